/* test_optim.c - SGD and Adam against a double-precision transcription of
 * torch.optim.SGD / torch.optim.Adam over 20 steps, hand examples and status
 * codes. */
#include <math.h>
#include <string.h>
#include "mt/mt.h"
#include "mt_test.h"

enum { SIZE = 13, STEPS = 20 };

/* torch.optim.SGD (_single_tensor_sgd) in double. */
static void ref_sgd(const mt_sgd_params *c, int step, double *p, const double *grad,
                    double *buf)
{
    const double lr = c->lr, mom = c->momentum, damp = c->dampening, wd = c->weight_decay;
    for (int i = 0; i < SIZE; i++) {
        double g = grad[i];
        if (wd != 0) g = g + wd * p[i];
        if (mom != 0) {
            buf[i] = step == 1 ? g : mom * buf[i] + (1 - damp) * g;
            g = c->nesterov ? g + mom * buf[i] : buf[i];
        }
        p[i] = p[i] - lr * g;
    }
}

/* torch.optim.Adam (_single_tensor_adam, amsgrad off) in double. */
static void ref_adam(const mt_adam_params *c, int step, double *p, const double *grad,
                     double *m, double *v)
{
    const double lr = c->lr, b1 = c->beta1, b2 = c->beta2, eps = c->eps, wd = c->weight_decay;
    const double bc1 = 1 - pow(b1, step), bc2 = 1 - pow(b2, step);
    for (int i = 0; i < SIZE; i++) {
        double g = grad[i];
        if (wd != 0) g = g + wd * p[i];
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        p[i] = p[i] - lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + eps);
    }
}

/* 1 if |a - b| <= tol * |b| (for quantities without cancellation, like v). */
static int rel_close(double a, double b, double tol)
{
    return fabs(a - b) <= tol * fabs(b);
}

static void test_sgd_vs_reference(void)
{
    const mt_sgd_params cfgs[] = {
        /* lr,  momentum, dampening, weight_decay, nesterov */
        {0.1f, 0.0f, 0.0f, 0.0f, 0},
        {0.1f, 0.9f, 0.0f, 0.0f, 0},
        {0.1f, 0.9f, 0.3f, 0.0f, 0},
        {0.1f, 0.9f, 0.0f, 0.0f, 1},
        {0.05f, 0.8f, 0.0f, 0.01f, 1},
        {0.2f, 0.5f, 0.5f, 0.05f, 0},
        {0.1f, 0.0f, 0.7f, 0.1f, 0},
    };
    for (unsigned k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
        const mt_sgd_params *c = &cfgs[k];
        float p[SIZE], g[SIZE], buf[SIZE];
        double pr[SIZE], gr[SIZE], bufr[SIZE];
        unsigned seed = 100u + k;
        for (int i = 0; i < SIZE; i++) {
            pr[i] = p[i] = mt_test_rand(&seed);
            buf[i] = 0.0f;
            bufr[i] = 0.0;
        }
        /* without momentum the buffer is not needed */
        float *b = c->momentum != 0.0f ? buf : NULL;
        int ok = 1;
        for (int step = 1; step <= STEPS; step++) {
            for (int i = 0; i < SIZE; i++) gr[i] = g[i] = mt_test_rand(&seed);
            ok &= mt_sgd_step_f32(c, step, SIZE, p, g, b) == MT_OK;
            ref_sgd(c, step, pr, gr, bufr);
        }
        MT_EXPECT(ok);
        for (int i = 0; i < SIZE; i++) {
            MT_EXPECT_NEAR(p[i], pr[i], 2e-6);
            if (b) MT_EXPECT_NEAR(buf[i], bufr[i], 2e-6);
        }
    }
}

static void test_adam_vs_reference(void)
{
    const mt_adam_params cfgs[] = {
        /* lr,  beta1, beta2, eps,  weight_decay */
        {0.01f, 0.9f, 0.999f, 1e-8f, 0.0f},
        {0.01f, 0.9f, 0.999f, 1e-8f, 0.1f},
        {0.05f, 0.0f, 0.5f, 1e-8f, 0.0f},     /* lerp weight 1 */
        {0.02f, 0.3f, 0.9f, 1e-3f, 0.01f},    /* lerp weight >= 0.5 */
        {0.001f, 0.95f, 0.0f, 0.0f, 0.0f},
    };
    for (unsigned k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
        const mt_adam_params *c = &cfgs[k];
        float p[SIZE], g[SIZE], m[SIZE], v[SIZE];
        double pr[SIZE], gr[SIZE], mr[SIZE], vr[SIZE];
        unsigned seed = 200u + k;
        for (int i = 0; i < SIZE; i++) {
            pr[i] = p[i] = mt_test_rand(&seed);
            m[i] = v[i] = 0.0f;
            mr[i] = vr[i] = 0.0;
        }
        int ok = 1;
        for (int step = 1; step <= STEPS; step++) {
            for (int i = 0; i < SIZE; i++) gr[i] = g[i] = mt_test_rand(&seed);
            ok &= mt_adam_step_f32(c, step, SIZE, p, g, m, v) == MT_OK;
            ref_adam(c, step, pr, gr, mr, vr);
        }
        MT_EXPECT(ok);
        for (int i = 0; i < SIZE; i++) {
            MT_EXPECT_NEAR(p[i], pr[i], 2e-6);
            MT_EXPECT_NEAR(m[i], mr[i], 2e-6);
            MT_EXPECT(rel_close(v[i], vr[i], 1e-5));
        }
    }
}

static void test_hand(void)
{
    /* plain SGD: p = 1 - 0.1 * 0.5 */
    mt_sgd_params sgd = {0.1f, 0.0f, 0.0f, 0.0f, 0};
    float p = 1.0f, g = 0.5f, buf = 123.0f;
    MT_EXPECT_STATUS(mt_sgd_step_f32(&sgd, 1, 1, &p, &g, NULL), MT_OK);
    MT_EXPECT_NEAR(p, 0.95, 1e-7);
    MT_EXPECT(buf == 123.0f);

    /* momentum: step 1 copies g into the buffer (whatever it held), then
     * buf = 0.9 * 0.5 + 0.5 = 0.95, p = 0.95 - 0.1 * 0.95 = 0.855 */
    sgd.momentum = 0.9f;
    p = 1.0f;
    MT_EXPECT_STATUS(mt_sgd_step_f32(&sgd, 1, 1, &p, &g, &buf), MT_OK);
    MT_EXPECT(buf == 0.5f);
    MT_EXPECT_NEAR(p, 0.95, 1e-7);
    MT_EXPECT_STATUS(mt_sgd_step_f32(&sgd, 2, 1, &p, &g, &buf), MT_OK);
    MT_EXPECT_NEAR(buf, 0.95, 1e-7);
    MT_EXPECT_NEAR(p, 0.855, 1e-7);

    /* Adam step 1: m_hat = g, v_hat = g^2, so p moves by lr * sign(g) */
    const mt_adam_params adam = {0.01f, 0.9f, 0.999f, 1e-8f, 0.0f};
    float pa[2] = {1.0f, 1.0f}, ga[2] = {0.5f, -3.0f}, m[2] = {0, 0}, v[2] = {0, 0};
    MT_EXPECT_STATUS(mt_adam_step_f32(&adam, 1, 2, pa, ga, m, v), MT_OK);
    MT_EXPECT_NEAR(pa[0], 0.99, 1e-6);
    MT_EXPECT_NEAR(pa[1], 1.01, 1e-6);
    /* m = (1 - beta1) g, v = (1 - beta2) g^2 with the float betas */
    MT_EXPECT_NEAR(m[0], (1.0 - (double)0.9f) * 0.5, 1e-8);
    MT_EXPECT_NEAR(v[1], (1.0 - (double)0.999f) * 9.0, 1e-8);
}

static void test_sgd_status(void)
{
    float p[3] = {1, 2, 3}, g[3] = {0.1f, 0.2f, 0.3f}, buf[3] = {0};
    const mt_sgd_params ok = {0.1f, 0.9f, 0.0f, 0.0f, 0}, plain = {0.1f, 0, 0, 0, 0};
    MT_EXPECT_STATUS(mt_sgd_step_f32(NULL, 1, 3, p, g, buf), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_sgd_step_f32(&ok, 1, 3, NULL, g, buf), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_sgd_step_f32(&ok, 1, 3, p, NULL, buf), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_sgd_step_f32(&ok, 1, 3, p, g, NULL), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_sgd_step_f32(&plain, 1, 3, p, g, NULL), MT_OK);

    const mt_sgd_params bad[] = {
        {-0.1f, 0.9f, 0, 0, 0}, {NAN, 0.9f, 0, 0, 0}, {INFINITY, 0.9f, 0, 0, 0},
        {0.1f, -0.1f, 0, 0, 0}, {0.1f, NAN, 0, 0, 0}, {0.1f, INFINITY, 0, 0, 0},
        {0.1f, 0.9f, NAN, 0, 0}, {0.1f, 0.9f, 0, -0.01f, 0}, {0.1f, 0.9f, 0, NAN, 0},
        {0.1f, 0.0f, 0, 0, 1},       /* nesterov needs momentum > 0 */
        {0.1f, 0.9f, 0.1f, 0, 1},    /* ... and zero dampening */
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++)
        MT_EXPECT_STATUS(mt_sgd_step_f32(&bad[i], 1, 3, p, g, buf), MT_ERR_ARG);
    MT_EXPECT_STATUS(mt_sgd_step_f32(&ok, 0, 3, p, g, buf), MT_ERR_ARG);
    MT_EXPECT_STATUS(mt_sgd_step_f32(&ok, -1, 3, p, g, buf), MT_ERR_ARG);
    MT_EXPECT_STATUS(mt_sgd_step_f32(&ok, 1, 0, p, g, buf), MT_ERR_SHAPE);
    MT_EXPECT_STATUS(mt_sgd_step_f32(&ok, 1, -3, p, g, buf), MT_ERR_SHAPE);
    MT_EXPECT_STATUS(mt_sgd_step_f32(&bad[0], 1, 0, NULL, g, buf), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_sgd_step_f32(&bad[0], 1, 0, p, g, buf), MT_ERR_ARG);
    /* lr = 0, dampening outside [0, 1] and nesterov with momentum are fine */
    const mt_sgd_params fine[] = {{0.0f, 0.9f, 0, 0, 0}, {0.1f, 0.9f, 1.5f, 0, 0},
                                  {0.1f, 0.9f, 0, 0.1f, 1}};
    for (unsigned i = 0; i < sizeof fine / sizeof fine[0]; i++)
        MT_EXPECT_STATUS(mt_sgd_step_f32(&fine[i], 1, 3, p, g, buf), MT_OK);

    /* a non-finite gradient or parameter changes nothing */
    const float bad_vals[3] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++) {
        float p0[3], b0[3], gg[3], pp[3];
        memcpy(p0, p, sizeof p);
        memcpy(b0, buf, sizeof buf);
        memcpy(gg, g, sizeof g);
        gg[2] = bad_vals[k];
        MT_EXPECT_STATUS(mt_sgd_step_f32(&ok, 2, 3, p, gg, buf), MT_ERR_NONFINITE);
        MT_EXPECT(memcmp(p, p0, sizeof p) == 0 && memcmp(buf, b0, sizeof buf) == 0);
        memcpy(pp, p, sizeof p);
        pp[1] = bad_vals[k];
        memcpy(p0, pp, sizeof pp);
        MT_EXPECT_STATUS(mt_sgd_step_f32(&ok, 2, 3, pp, g, buf), MT_ERR_NONFINITE);
        MT_EXPECT(memcmp(pp, p0, sizeof pp) == 0 && memcmp(buf, b0, sizeof buf) == 0);
    }
}

static void test_adam_status(void)
{
    float p[3] = {1, 2, 3}, g[3] = {0.1f, 0.2f, 0.3f}, m[3] = {0}, v[3] = {0};
    const mt_adam_params ok = {0.001f, 0.9f, 0.999f, 1e-8f, 0.0f};
    MT_EXPECT_STATUS(mt_adam_step_f32(NULL, 1, 3, p, g, m, v), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_adam_step_f32(&ok, 1, 3, NULL, g, m, v), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_adam_step_f32(&ok, 1, 3, p, NULL, m, v), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_adam_step_f32(&ok, 1, 3, p, g, NULL, v), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_adam_step_f32(&ok, 1, 3, p, g, m, NULL), MT_ERR_NULL);

    const mt_adam_params bad[] = {
        {-0.001f, 0.9f, 0.999f, 1e-8f, 0}, {NAN, 0.9f, 0.999f, 1e-8f, 0},
        {INFINITY, 0.9f, 0.999f, 1e-8f, 0},
        {0.001f, -0.1f, 0.999f, 1e-8f, 0}, {0.001f, 1.0f, 0.999f, 1e-8f, 0},
        {0.001f, NAN, 0.999f, 1e-8f, 0},
        {0.001f, 0.9f, -0.1f, 1e-8f, 0}, {0.001f, 0.9f, 1.0f, 1e-8f, 0},
        {0.001f, 0.9f, NAN, 1e-8f, 0},
        {0.001f, 0.9f, 0.999f, -1e-8f, 0}, {0.001f, 0.9f, 0.999f, NAN, 0},
        {0.001f, 0.9f, 0.999f, INFINITY, 0},
        {0.001f, 0.9f, 0.999f, 1e-8f, -0.1f}, {0.001f, 0.9f, 0.999f, 1e-8f, NAN},
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++)
        MT_EXPECT_STATUS(mt_adam_step_f32(&bad[i], 1, 3, p, g, m, v), MT_ERR_ARG);
    MT_EXPECT_STATUS(mt_adam_step_f32(&ok, 0, 3, p, g, m, v), MT_ERR_ARG);
    MT_EXPECT_STATUS(mt_adam_step_f32(&ok, -7, 3, p, g, m, v), MT_ERR_ARG);
    MT_EXPECT_STATUS(mt_adam_step_f32(&ok, 1, 0, p, g, m, v), MT_ERR_SHAPE);
    MT_EXPECT_STATUS(mt_adam_step_f32(&ok, 1, -1, p, g, m, v), MT_ERR_SHAPE);
    MT_EXPECT_STATUS(mt_adam_step_f32(&bad[0], 1, 0, p, g, NULL, v), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_adam_step_f32(&bad[0], 1, 0, p, g, m, v), MT_ERR_ARG);
    /* boundaries that are allowed: lr 0, betas 0, eps 0 */
    const mt_adam_params fine = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    MT_EXPECT_STATUS(mt_adam_step_f32(&fine, 1, 3, p, g, m, v), MT_OK);

    /* a non-finite gradient or parameter changes nothing */
    MT_EXPECT_STATUS(mt_adam_step_f32(&ok, 1, 3, p, g, m, v), MT_OK);
    const float bad_vals[3] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++) {
        float p0[3], m0[3], v0[3], gg[3], pp[3];
        memcpy(p0, p, sizeof p);
        memcpy(m0, m, sizeof m);
        memcpy(v0, v, sizeof v);
        memcpy(gg, g, sizeof g);
        gg[0] = bad_vals[k];
        MT_EXPECT_STATUS(mt_adam_step_f32(&ok, 2, 3, p, gg, m, v), MT_ERR_NONFINITE);
        MT_EXPECT(memcmp(p, p0, sizeof p) == 0 && memcmp(m, m0, sizeof m) == 0 &&
                  memcmp(v, v0, sizeof v) == 0);
        memcpy(pp, p, sizeof p);
        pp[2] = bad_vals[k];
        memcpy(p0, pp, sizeof pp);
        MT_EXPECT_STATUS(mt_adam_step_f32(&ok, 2, 3, pp, g, m, v), MT_ERR_NONFINITE);
        MT_EXPECT(memcmp(pp, p0, sizeof pp) == 0 && memcmp(m, m0, sizeof m) == 0 &&
                  memcmp(v, v0, sizeof v) == 0);
    }
}

int main(void)
{
    test_hand();
    test_sgd_vs_reference();
    test_adam_vs_reference();
    test_sgd_status();
    test_adam_status();
    return mt_test_summary("test_optim");
}
