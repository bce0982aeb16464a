/* test_linear.c - mt_linear_f32 forward/backward: hand examples, finite
 * differences in double, NULL-skipped gradients and status codes. */
#include <math.h>
#include <string.h>
#include "mt/mt.h"
#include "mt_test.h"

/* The finite-difference case: batch 2, x (2,3,1,3) so K = 9 (not a multiple of 4), O = 5. */
enum { N = 2, K = 9, O = 5 };

/* L = sum_{n,o} c[n,o] * (sum_k x[n,k] w[o,k] + b[o]) in double. */
static double ref_loss(const double *x, const double *w, const double *b, const double *c)
{
    double L = 0.0;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            double y = b[o];
            for (int k = 0; k < K; k++)
                y += x[n * K + k] * w[o * K + k];
            L += c[n * O + o] * y;
        }
    return L;
}

/* Central difference of ref_loss with respect to v[i] (v is one of x, w, b). */
static double fd(double *v, int i, const double *x, const double *w, const double *b,
                 const double *c)
{
    const double h = 1e-6, keep = v[i];
    v[i] = keep + h;
    double lp = ref_loss(x, w, b, c);
    v[i] = keep - h;
    double lm = ref_loss(x, w, b, c);
    v[i] = keep;
    return (lp - lm) / (2.0 * h);
}

static void test_hand(void)
{
    /* x = [1,2,3], W = [[1,0,-1],[2,1,0]], b = [0.5,-1] -> y = [-1.5, 3] */
    const mt_dims xd = {1, 1, 1, 3}, wd = {2, 1, 1, 3}, yd = {1, 1, 1, 2};
    const float x[3] = {1, 2, 3}, w[6] = {1, 0, -1, 2, 1, 0}, b[2] = {0.5f, -1};
    float y[2];
    MT_EXPECT_STATUS(mt_linear_f32(NULL, &xd, x, &wd, w, b, &yd, y), MT_OK);
    MT_EXPECT_NEAR(y[0], -1.5, 1e-6);
    MT_EXPECT_NEAR(y[1], 3.0, 1e-6);
    /* no bias */
    MT_EXPECT_STATUS(mt_linear_f32(NULL, &xd, x, &wd, w, NULL, &yd, y), MT_OK);
    MT_EXPECT_NEAR(y[0], -2.0, 1e-6);
    MT_EXPECT_NEAR(y[1], 4.0, 1e-6);
    /* fused ReLU and a [-1, 2] clamp */
    const mt_range_f32 relu = {0.0f, INFINITY}, clamp = {-1.0f, 2.0f};
    MT_EXPECT_STATUS(mt_linear_f32(&relu, &xd, x, &wd, w, b, &yd, y), MT_OK);
    MT_EXPECT(y[0] == 0.0f && y[1] == 3.0f);
    MT_EXPECT_STATUS(mt_linear_f32(&clamp, &xd, x, &wd, w, b, &yd, y), MT_OK);
    MT_EXPECT(y[0] == -1.0f && y[1] == 2.0f);

    /* dy = [1,2]: dx = [5,2,-1]; dW += [[1,2,3],[2,4,6]]; db += [1,2] */
    const float dy[2] = {1, 2};
    float dx[3] = {9, 9, 9}, dW[6], db[2] = {10, 20};
    for (int i = 0; i < 6; i++) dW[i] = 1.0f;
    MT_EXPECT_STATUS(mt_linear_f32_backward(&xd, x, &wd, w, &yd, dy, dx, dW, db), MT_OK);
    MT_EXPECT(dx[0] == 5.0f && dx[1] == 2.0f && dx[2] == -1.0f);
    const float dW_want[6] = {2, 3, 4, 3, 5, 7};
    for (int i = 0; i < 6; i++) MT_EXPECT(dW[i] == dW_want[i]);
    MT_EXPECT(db[0] == 11.0f && db[1] == 22.0f);
    /* a second call accumulates the parameter gradients again, overwrites dx */
    MT_EXPECT_STATUS(mt_linear_f32_backward(&xd, x, &wd, w, &yd, dy, dx, dW, db), MT_OK);
    MT_EXPECT(dx[0] == 5.0f && dx[1] == 2.0f && dx[2] == -1.0f);
    MT_EXPECT(dW[5] == 13.0f && db[1] == 24.0f);
}

static void test_finite_differences(void)
{
    const mt_dims xd = {N, 3, 1, 3}, wd = {O, 1, 1, K}, yd = {N, 1, 1, O};
    float x[N * K], w[O * K], b[O], c[N * O], y[N * O];
    double xx[N * K], ww[O * K], bb[O], cc[N * O];
    unsigned seed = 12345;
    for (int i = 0; i < N * K; i++) xx[i] = x[i] = mt_test_rand(&seed);
    for (int i = 0; i < O * K; i++) ww[i] = w[i] = mt_test_rand(&seed);
    for (int i = 0; i < O; i++) bb[i] = b[i] = mt_test_rand(&seed);
    for (int i = 0; i < N * O; i++) cc[i] = c[i] = mt_test_rand(&seed);

    /* forward against the double reference, one output at a time (c = one-hot) */
    MT_EXPECT_STATUS(mt_linear_f32(NULL, &xd, x, &wd, w, b, &yd, y), MT_OK);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            double ref = bb[o];
            for (int k = 0; k < K; k++) ref += xx[n * K + k] * ww[o * K + k];
            MT_EXPECT_NEAR(y[n * O + o], ref, 1e-5);
        }

    /* backward with dL/dy = c against finite differences of L = sum c*y */
    float dx[N * K], dW[O * K], db[O];
    memset(dW, 0, sizeof dW);
    memset(db, 0, sizeof db);
    MT_EXPECT_STATUS(mt_linear_f32_backward(&xd, x, &wd, w, &yd, c, dx, dW, db), MT_OK);
    for (int i = 0; i < N * K; i++) MT_EXPECT_NEAR(dx[i], fd(xx, i, xx, ww, bb, cc), 1e-5);
    for (int i = 0; i < O * K; i++) MT_EXPECT_NEAR(dW[i], fd(ww, i, xx, ww, bb, cc), 1e-5);
    for (int i = 0; i < O; i++) MT_EXPECT_NEAR(db[i], fd(bb, i, xx, ww, bb, cc), 1e-5);

    /* the same input as a flat (2,1,1,9) row gives the same result */
    const mt_dims flat = {N, 1, 1, K};
    float y2[N * O];
    MT_EXPECT_STATUS(mt_linear_f32(NULL, &flat, x, &wd, w, b, &yd, y2), MT_OK);
    MT_EXPECT(memcmp(y, y2, sizeof y) == 0);

    /* NULL gradient outputs are skipped, and the inputs only they need may be NULL */
    float dx2[N * K], dW2[O * K], db2[O];
    memset(dW2, 0, sizeof dW2);
    memset(db2, 0, sizeof db2);
    MT_EXPECT_STATUS(mt_linear_f32_backward(&xd, x, &wd, NULL, &yd, c, NULL, dW2, NULL), MT_OK);
    MT_EXPECT(memcmp(dW, dW2, sizeof dW) == 0);
    MT_EXPECT_STATUS(mt_linear_f32_backward(&xd, NULL, &wd, w, &yd, c, dx2, NULL, NULL), MT_OK);
    MT_EXPECT(memcmp(dx, dx2, sizeof dx) == 0);
    MT_EXPECT_STATUS(mt_linear_f32_backward(&xd, NULL, &wd, NULL, &yd, c, NULL, NULL, db2), MT_OK);
    MT_EXPECT(memcmp(db, db2, sizeof db) == 0);
    MT_EXPECT_STATUS(mt_linear_f32_backward(&xd, NULL, &wd, NULL, &yd, c, NULL, NULL, NULL), MT_OK);
}

static void test_status(void)
{
    const mt_dims xd = {2, 1, 1, 3}, wd = {4, 1, 1, 3}, yd = {2, 1, 1, 4};
    float x[6] = {0}, w[12] = {0}, b[4] = {0}, y[8], dy[8] = {0}, dx[6], dW[12] = {0}, db[4] = {0};
    const mt_range_f32 bad = {1.0f, 0.0f}, nan_lo = {NAN, 1.0f}, nan_hi = {0.0f, NAN};

    MT_EXPECT_STATUS(mt_linear_f32(NULL, NULL, x, &wd, w, b, &yd, y), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_linear_f32(NULL, &xd, NULL, &wd, w, b, &yd, y), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_linear_f32(NULL, &xd, x, NULL, w, b, &yd, y), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_linear_f32(NULL, &xd, x, &wd, NULL, b, &yd, y), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_linear_f32(NULL, &xd, x, &wd, w, b, NULL, y), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_linear_f32(NULL, &xd, x, &wd, w, b, &yd, NULL), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_linear_f32(&bad, &xd, x, &wd, w, b, &yd, y), MT_ERR_ARG);
    MT_EXPECT_STATUS(mt_linear_f32(&nan_lo, &xd, x, &wd, w, b, &yd, y), MT_ERR_ARG);
    MT_EXPECT_STATUS(mt_linear_f32(&nan_hi, &xd, x, &wd, w, b, &yd, y), MT_ERR_ARG);
    /* NULL before ARG before SHAPE */
    const mt_dims zero = {0, 1, 1, 3};
    MT_EXPECT_STATUS(mt_linear_f32(&bad, &zero, NULL, &wd, w, b, &yd, y), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_linear_f32(&bad, &zero, x, &wd, w, b, &yd, y), MT_ERR_ARG);

    const mt_dims bad_x[] = {{0, 1, 1, 3}, {2, 1, 1, 4}, {1, 1, 1, 3}, {2, -1, 1, 3}, {2, 3, 1, 2}};
    const mt_dims bad_w[] = {{4, 2, 1, 3}, {4, 1, 3, 1}, {4, 1, 1, 2}, {0, 1, 1, 3}, {5, 1, 1, 3}};
    const mt_dims bad_y[] = {{1, 1, 1, 4}, {2, 1, 1, 3}, {2, 2, 1, 4}, {2, 1, 4, 1}, {2, 1, 1, 0}};
    for (unsigned i = 0; i < sizeof bad_x / sizeof bad_x[0]; i++) {
        MT_EXPECT_STATUS(mt_linear_f32(NULL, &bad_x[i], x, &wd, w, b, &yd, y), MT_ERR_SHAPE);
        MT_EXPECT_STATUS(mt_linear_f32_backward(&bad_x[i], x, &wd, w, &yd, dy, dx, dW, db),
                         MT_ERR_SHAPE);
    }
    /* any (h, w, c) with h*w*c == K is fine */
    const mt_dims x_hwc = {2, 3, 1, 1};
    MT_EXPECT_STATUS(mt_linear_f32(NULL, &x_hwc, x, &wd, w, b, &yd, y), MT_OK);
    MT_EXPECT_STATUS(mt_linear_f32_backward(&x_hwc, x, &wd, w, &yd, dy, dx, dW, db), MT_OK);
    for (unsigned i = 0; i < sizeof bad_w / sizeof bad_w[0]; i++) {
        MT_EXPECT_STATUS(mt_linear_f32(NULL, &xd, x, &bad_w[i], w, b, &yd, y), MT_ERR_SHAPE);
        MT_EXPECT_STATUS(mt_linear_f32_backward(&xd, x, &bad_w[i], w, &yd, dy, dx, dW, db),
                         MT_ERR_SHAPE);
    }
    for (unsigned i = 0; i < sizeof bad_y / sizeof bad_y[0]; i++) {
        MT_EXPECT_STATUS(mt_linear_f32(NULL, &xd, x, &wd, w, b, &bad_y[i], y), MT_ERR_SHAPE);
        MT_EXPECT_STATUS(mt_linear_f32_backward(&xd, x, &wd, w, &bad_y[i], dy, dx, dW, db),
                         MT_ERR_SHAPE);
    }
    /* element count overflowing int32 */
    const mt_dims huge = {65536, 1, 1, 65536};
    MT_EXPECT_STATUS(mt_linear_f32(NULL, &huge, x, &wd, w, b, &yd, y), MT_ERR_SHAPE);

    /* backward: dims and d_out always; x iff dW; W iff dx */
    MT_EXPECT_STATUS(mt_linear_f32_backward(NULL, x, &wd, w, &yd, dy, dx, dW, db), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_linear_f32_backward(&xd, x, NULL, w, &yd, dy, dx, dW, db), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_linear_f32_backward(&xd, x, &wd, w, NULL, dy, dx, dW, db), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_linear_f32_backward(&xd, x, &wd, w, &yd, NULL, dx, dW, db), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_linear_f32_backward(&xd, NULL, &wd, w, &yd, dy, dx, dW, db), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_linear_f32_backward(&xd, x, &wd, NULL, &yd, dy, dx, dW, db), MT_ERR_NULL);

    /* a failed call writes nothing */
    float sentinel[8];
    for (int i = 0; i < 8; i++) sentinel[i] = y[i] = 7.0f;
    MT_EXPECT_STATUS(mt_linear_f32(NULL, &xd, x, &bad_w[2], w, b, &yd, y), MT_ERR_SHAPE);
    MT_EXPECT(memcmp(y, sentinel, sizeof y) == 0);
}

int main(void)
{
    test_hand();
    test_finite_differences();
    test_status();
    return mt_test_summary("test_linear");
}
