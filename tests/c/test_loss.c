/* test_loss.c - MSE and cross-entropy: hand examples, stability, finite
 * differences in double and status codes. */
#include <math.h>
#include <string.h>
#include "mt/mt.h"
#include "mt_test.h"

/* ---- MSE ---------------------------------------------------------------------- */

enum { MSE_SIZE = 11 };

static double ref_mse(const double *p, const double *t)
{
    double s = 0.0;
    for (int i = 0; i < MSE_SIZE; i++) s += (p[i] - t[i]) * (p[i] - t[i]);
    return s / MSE_SIZE;
}

static void test_mse(void)
{
    /* hand: diffs [0, 2, -2] -> L = 8/3, d = [0, 4/3, -4/3] */
    const float p[3] = {1, 2, 3}, t[3] = {1, 0, 5};
    float L = 0, d[3];
    MT_EXPECT_STATUS(mt_mse_loss_f32(3, p, t, &L, d), MT_OK);
    MT_EXPECT_NEAR(L, 8.0 / 3.0, 1e-7);
    MT_EXPECT(d[0] == 0.0f);
    MT_EXPECT_NEAR(d[1], 4.0 / 3.0, 1e-7);
    MT_EXPECT_NEAR(d[2], -4.0 / 3.0, 1e-7);
    /* d may be NULL; equal inputs give zero */
    MT_EXPECT_STATUS(mt_mse_loss_f32(3, p, t, &L, NULL), MT_OK);
    MT_EXPECT_NEAR(L, 8.0 / 3.0, 1e-7);
    MT_EXPECT_STATUS(mt_mse_loss_f32(3, p, p, &L, d), MT_OK);
    MT_EXPECT(L == 0.0f && d[0] == 0.0f && d[1] == 0.0f && d[2] == 0.0f);

    /* finite differences */
    float pf[MSE_SIZE], tf[MSE_SIZE], df[MSE_SIZE];
    double pd[MSE_SIZE], td[MSE_SIZE];
    unsigned seed = 2024u;
    for (int i = 0; i < MSE_SIZE; i++) {
        pd[i] = pf[i] = 2.0f * mt_test_rand(&seed);
        td[i] = tf[i] = mt_test_rand(&seed);
    }
    MT_EXPECT_STATUS(mt_mse_loss_f32(MSE_SIZE, pf, tf, &L, df), MT_OK);
    MT_EXPECT_NEAR(L, ref_mse(pd, td), 1e-6);
    for (int i = 0; i < MSE_SIZE; i++) {
        const double h = 1e-6, keep = pd[i];
        pd[i] = keep + h;
        double lp = ref_mse(pd, td);
        pd[i] = keep - h;
        double lm = ref_mse(pd, td);
        pd[i] = keep;
        MT_EXPECT_NEAR(df[i], (lp - lm) / (2 * h), 1e-6);
    }

    /* non-finite: the loss is still written */
    const float big[2] = {1e30f, 0}, nbig[2] = {-1e30f, 0}, nan2[2] = {NAN, 0}, zero2[2] = {0, 0};
    L = 0;
    MT_EXPECT_STATUS(mt_mse_loss_f32(2, big, nbig, &L, d), MT_ERR_NONFINITE);
    MT_EXPECT(isinf(L));
    L = 0;
    MT_EXPECT_STATUS(mt_mse_loss_f32(2, nan2, zero2, &L, NULL), MT_ERR_NONFINITE);
    MT_EXPECT(isnan(L));

    /* status */
    MT_EXPECT_STATUS(mt_mse_loss_f32(3, NULL, t, &L, d), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_mse_loss_f32(3, p, NULL, &L, d), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_mse_loss_f32(3, p, t, NULL, d), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_mse_loss_f32(0, NULL, t, &L, d), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_mse_loss_f32(0, p, t, &L, d), MT_ERR_SHAPE);
    MT_EXPECT_STATUS(mt_mse_loss_f32(-3, p, t, &L, d), MT_ERR_SHAPE);
}

/* ---- cross-entropy ------------------------------------------------------------ */

enum { CE_ROWS = 3, CE_CLASSES = 7 };

static double ref_ce(const double *z, const int32_t *labels)
{
    double L = 0.0;
    for (int r = 0; r < CE_ROWS; r++) {
        double s = 0.0;
        for (int j = 0; j < CE_CLASSES; j++) s += exp(z[r * CE_CLASSES + j]);
        L += log(s) - z[r * CE_CLASSES + labels[r]];
    }
    return L / CE_ROWS;
}

static void test_cross_entropy(void)
{
    /* hand: row 0 uniform, label 1 -> ln 3; row 1 softmax = [1/6, 2/6, 3/6], label 2 -> ln 2 */
    const float z[6] = {0, 0, 0, 0, logf(2.0f), logf(3.0f)};
    const int32_t lab[2] = {1, 2};
    float L = 0, d[6];
    MT_EXPECT_STATUS(mt_cross_entropy_f32(2, 3, z, lab, &L, d), MT_OK);
    MT_EXPECT_NEAR(L, (log(3.0) + log(2.0)) / 2, 1e-6);
    const double d_want[6] = {1.0 / 6, -1.0 / 3, 1.0 / 6, 1.0 / 12, 1.0 / 6, -1.0 / 4};
    for (int i = 0; i < 6; i++) MT_EXPECT_NEAR(d[i], d_want[i], 1e-6);
    MT_EXPECT_STATUS(mt_cross_entropy_f32(2, 3, z, lab, &L, NULL), MT_OK);
    MT_EXPECT_NEAR(L, (log(3.0) + log(2.0)) / 2, 1e-6);

    /* stable for large logits */
    const float far[2] = {1000, 0};
    const int32_t one = 1, zero = 0;
    MT_EXPECT_STATUS(mt_cross_entropy_f32(1, 2, far, &one, &L, d), MT_OK);
    MT_EXPECT(L == 1000.0f && d[0] == 1.0f && d[1] == -1.0f);
    MT_EXPECT_STATUS(mt_cross_entropy_f32(1, 2, far, &zero, &L, d), MT_OK);
    MT_EXPECT(L == 0.0f && d[0] == 0.0f && d[1] == 0.0f);
    const float shifted[6] = {-500, -500, -500, 800, 800 + logf(2.0f), 800 + logf(3.0f)};
    MT_EXPECT_STATUS(mt_cross_entropy_f32(2, 3, shifted, lab, &L, d), MT_OK);
    MT_EXPECT_NEAR(L, (log(3.0) + log(2.0)) / 2, 1e-4);

    /* one class: loss 0, gradient 0 */
    MT_EXPECT_STATUS(mt_cross_entropy_f32(1, 1, far, &zero, &L, d), MT_OK);
    MT_EXPECT(L == 0.0f && d[0] == 0.0f);

    /* finite differences */
    float zf[CE_ROWS * CE_CLASSES], df[CE_ROWS * CE_CLASSES];
    double zd[CE_ROWS * CE_CLASSES];
    const int32_t labels[CE_ROWS] = {6, 0, 3};
    unsigned seed = 555u;
    for (int i = 0; i < CE_ROWS * CE_CLASSES; i++) zd[i] = zf[i] = 3.0f * mt_test_rand(&seed);
    MT_EXPECT_STATUS(mt_cross_entropy_f32(CE_ROWS, CE_CLASSES, zf, labels, &L, df), MT_OK);
    MT_EXPECT_NEAR(L, ref_ce(zd, labels), 1e-6);
    for (int i = 0; i < CE_ROWS * CE_CLASSES; i++) {
        const double h = 1e-6, keep = zd[i];
        zd[i] = keep + h;
        double lp = ref_ce(zd, labels);
        zd[i] = keep - h;
        double lm = ref_ce(zd, labels);
        zd[i] = keep;
        MT_EXPECT_NEAR(df[i], (lp - lm) / (2 * h), 1e-6);
    }

    /* labels out of range: nothing is written */
    const int32_t bad_last[2] = {0, 3}, bad_neg[2] = {-1, 0};
    float d_sent[6];
    for (int i = 0; i < 6; i++) d_sent[i] = d[i] = 42.0f;
    L = 42.0f;
    MT_EXPECT_STATUS(mt_cross_entropy_f32(2, 3, z, bad_last, &L, d), MT_ERR_RANGE);
    MT_EXPECT_STATUS(mt_cross_entropy_f32(2, 3, z, bad_neg, &L, d), MT_ERR_RANGE);
    MT_EXPECT_STATUS(mt_cross_entropy_f32(2, 3, z, bad_last, &L, NULL), MT_ERR_RANGE);
    MT_EXPECT(L == 42.0f && memcmp(d, d_sent, sizeof d) == 0);

    /* non-finite logits: the loss is still written */
    const float nan_z[3] = {0, NAN, 0}, inf_z[3] = {0, INFINITY, 0};
    MT_EXPECT_STATUS(mt_cross_entropy_f32(1, 3, nan_z, &zero, &L, d), MT_ERR_NONFINITE);
    MT_EXPECT(isnan(L));
    L = 0;
    MT_EXPECT_STATUS(mt_cross_entropy_f32(1, 3, inf_z, &zero, &L, NULL), MT_ERR_NONFINITE);
    MT_EXPECT(!isfinite(L));

    /* status order: NULL, SHAPE, RANGE */
    MT_EXPECT_STATUS(mt_cross_entropy_f32(2, 3, NULL, lab, &L, d), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_cross_entropy_f32(2, 3, z, NULL, &L, d), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_cross_entropy_f32(2, 3, z, lab, NULL, d), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_cross_entropy_f32(0, 3, NULL, lab, &L, d), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_cross_entropy_f32(0, 3, z, lab, &L, d), MT_ERR_SHAPE);
    MT_EXPECT_STATUS(mt_cross_entropy_f32(2, 0, z, lab, &L, d), MT_ERR_SHAPE);
    MT_EXPECT_STATUS(mt_cross_entropy_f32(-2, 3, z, lab, &L, d), MT_ERR_SHAPE);
    MT_EXPECT_STATUS(mt_cross_entropy_f32(65536, 65536, z, lab, &L, d), MT_ERR_SHAPE);
    MT_EXPECT_STATUS(mt_cross_entropy_f32(2, 0, z, bad_neg, &L, d), MT_ERR_SHAPE);
}

int main(void)
{
    test_mse();
    test_cross_entropy();
    return mt_test_summary("test_loss");
}
