/* test_backward_fast.c - the fast float backward paths against their reference twins.
 *
 * conv2d / linear backward (d_in, d_filter, d_bias, the block-wise _params entries),
 * max-pool backward and the SGD step each keep their plain loop as a reference
 * (runtime_c/src/support/backward_ref_f32.h). Over a grid of shapes (C = 1, padding,
 * stride 2, batch 2, odd sizes, sparse dy, NULL gradients) both must agree to float
 * rounding: the fast paths only reorder sums (and skip zero terms).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "mt/mt.h"
#include "mt_test.h"
#include "../../runtime_c/src/support/backward_ref_f32.h"

#define TOL 2e-6

static unsigned seed = 12345;

/* size floats in [-1, 1); every zero_every-th (on average) set to exactly 0. */
static float *rand_buf(int32_t size, int zero_every)
{
    float *b = malloc((size_t)(size > 0 ? size : 1) * sizeof(float));
    for (int32_t i = 0; i < size; i++) {
        float v = mt_test_rand(&seed);
        b[i] = (zero_every && (seed >> 3) % (unsigned)zero_every == 0) ? 0.0f : v;
    }
    return b;
}

static float *copy_buf(const float *src, int32_t size)
{
    float *b = malloc((size_t)(size > 0 ? size : 1) * sizeof(float));
    memcpy(b, src, (size_t)size * sizeof(float));
    return b;
}

/* Largest |a - b| relative to max(1, |b|) over size floats; NaN if any differ in NaN-ness. */
static int close_all(const float *a, const float *b, int32_t size, double tol)
{
    for (int32_t i = 0; i < size; i++) {
        if (isnan(a[i]) != isnan(b[i]))
            return 0;
        if (isnan(a[i]))
            continue;
        double lim = tol * (fabs(b[i]) > 1.0 ? fabs(b[i]) : 1.0);
        if (fabs((double)a[i] - (double)b[i]) > lim)
            return 0;
    }
    return 1;
}

static int conv_cases, conv_fast_cases;

/* One conv geometry: fast (public) and reference agree on every gradient, with every
 * combination of NULL outputs, and block-wise parameter gradients equal the full ones. */
static void check_conv(int32_t N, int32_t H, int32_t W, int32_t C, int32_t O, int32_t KH,
                       int32_t KW, int32_t sh, int32_t sw, int32_t pt, int32_t pl, int32_t pb,
                       int32_t pr, int32_t dil, int32_t groups, int zero_every)
{
    mt_conv_params p = {sh, sw, pt, pl, pb, pr, dil, dil, groups};
    const int32_t OH = mt_conv_out_size(H, KH, sh, pt + pb, dil);
    const int32_t OW = mt_conv_out_size(W, KW, sw, pl + pr, dil);
    if (OH < 1 || OW < 1 || C % groups || O % groups)
        return;
    conv_cases++;
    if (groups == 1 && dil == 1)
        conv_fast_cases++;
    const mt_dims xd = {N, H, W, C}, wd = {O, KH, KW, C / groups}, yd = {N, OH, OW, O};
    const int32_t nx = N * H * W * C, nw = O * KH * KW * (C / groups), ny = N * OH * OW * O;
    float *x = rand_buf(nx, 0), *w = rand_buf(nw, 0), *dy = rand_buf(ny, zero_every);
    float *dw0 = rand_buf(nw, 0), *db0 = rand_buf(O, 0);          /* accumulated into */
    float *dx_f = rand_buf(nx, 0), *dx_r = rand_buf(nx, 0);       /* overwritten */
    float *dw_f = copy_buf(dw0, nw), *dw_r = copy_buf(dw0, nw);
    float *db_f = copy_buf(db0, O), *db_r = copy_buf(db0, O);

    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&p, &xd, x, &wd, w, &yd, dy, dx_f, dw_f, db_f), MT_OK);
    MT_EXPECT_STATUS(mt_conv2d_f32_backward_ref(&p, &xd, x, &wd, w, &yd, dy, dx_r, dw_r, db_r),
                     MT_OK);
    MT_EXPECT(close_all(dx_f, dx_r, nx, TOL));
    MT_EXPECT(close_all(dw_f, dw_r, nw, TOL));
    MT_EXPECT(close_all(db_f, db_r, O, TOL));

    /* Each gradient alone (the others NULL, and x / w NULL when unneeded). */
    float *dx_1 = rand_buf(nx, 0), *dw_1 = copy_buf(dw0, nw), *db_1 = copy_buf(db0, O);
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&p, &xd, NULL, &wd, w, &yd, dy, dx_1, NULL, NULL),
                     MT_OK);
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&p, &xd, x, &wd, NULL, &yd, dy, NULL, dw_1, NULL),
                     MT_OK);
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&p, &xd, NULL, &wd, NULL, &yd, dy, NULL, NULL, db_1),
                     MT_OK);
    MT_EXPECT(close_all(dx_1, dx_r, nx, TOL));
    MT_EXPECT(close_all(dw_1, dw_r, nw, TOL));
    MT_EXPECT(close_all(db_1, db_r, O, TOL));

    /* Block-wise parameter gradients (blocks of 2 channels) against the full ones. */
    const int32_t row = KH * KW * (C / groups);
    for (int32_t o0 = 0; o0 < O; o0 += 2) {
        const int32_t o1 = o0 + 2 < O ? o0 + 2 : O;
        float *bw = copy_buf(dw0 + o0 * row, (o1 - o0) * row), *bb = copy_buf(db0 + o0, o1 - o0);
        MT_EXPECT_STATUS(mt_conv2d_f32_backward_params(&p, &xd, x, &wd, &yd, dy, o0, o1, bw, bb),
                         MT_OK);
        MT_EXPECT(close_all(bw, dw_r + o0 * row, (o1 - o0) * row, TOL));
        MT_EXPECT(close_all(bb, db_r + o0, o1 - o0, TOL));
        float *rw = copy_buf(dw0 + o0 * row, (o1 - o0) * row);
        MT_EXPECT_STATUS(mt_conv2d_f32_backward_params_ref(&p, &xd, x, &wd, &yd, dy, o0, o1, rw,
                                                           NULL), MT_OK);
        MT_EXPECT(close_all(bw, rw, (o1 - o0) * row, TOL));
        free(bw); free(bb); free(rw);
    }
    free(x); free(w); free(dy); free(dw0); free(db0); free(dx_f); free(dx_r);
    free(dw_f); free(dw_r); free(db_f); free(db_r); free(dx_1); free(dw_1); free(db_1);
}

static void test_conv_grid(void)
{
    static const int32_t sizes[][2] = {{1, 1}, {5, 5}, {6, 5}, {7, 4}};
    static const int32_t kernels[][2] = {{1, 1}, {3, 3}, {2, 3}, {5, 5}};
    /* pads: top, left, bottom, right */
    static const int32_t pads[][4] = {{0, 0, 0, 0}, {1, 1, 1, 1}, {2, 0, 1, 2}, {0, 0, 1, 2},
                                       {0, 0, 1, 0}};
    for (int32_t N = 1; N <= 2; N++)
        for (int s = 0; s < 4; s++)
            for (int k = 0; k < 4; k++)
                for (int pd = 0; pd < 5; pd++)
                    for (int32_t stride = 1; stride <= 2; stride++) {
                        const int32_t *pp = pads[pd];
                        check_conv(N, sizes[s][0], sizes[s][1], 1, 3, kernels[k][0],
                                   kernels[k][1], stride, stride, pp[0], pp[1], pp[2], pp[3],
                                   1, 1, 2);
                        check_conv(N, sizes[s][0], sizes[s][1], 4, 5, kernels[k][0],
                                   kernels[k][1], stride, 3 - stride, pp[0], pp[1], pp[2], pp[3],
                                   1, 1, 4);
                        check_conv(N, sizes[s][0], sizes[s][1], 2, 6, kernels[k][0],
                                   kernels[k][1], stride, stride, pp[0], pp[1], pp[2], pp[3],
                                   1, 1, 0);
                        /* reference-only geometries go through the same entry points */
                        check_conv(N, sizes[s][0], sizes[s][1], 4, 6, kernels[k][0],
                                   kernels[k][1], stride, stride, pp[0], pp[1], pp[2], pp[3],
                                   1, 2, 3);
                        check_conv(N, sizes[s][0], sizes[s][1], 2, 3, kernels[k][0],
                                   kernels[k][1], stride, stride, pp[0], pp[1], pp[2], pp[3],
                                   2, 1, 3);
                    }
    /* LeNet-5's two layers, with max-pool-like sparsity (3 of 4 dy zero). */
    check_conv(1, 32, 32, 1, 6, 5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1);
    check_conv(1, 14, 14, 6, 16, 5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1);
    MT_EXPECT(conv_fast_cases > 200);
    MT_EXPECT(conv_cases > conv_fast_cases);
}

/* A NaN in dy reaches every gradient it touches on both paths (no zero test hides it). */
static void test_conv_nan_propagates(void)
{
    mt_conv_params p = {1, 1, 0, 0, 0, 0, 1, 1, 1};
    const mt_dims xd = {1, 4, 4, 2}, wd = {3, 3, 3, 2}, yd = {1, 2, 2, 3};
    float x[32], w[54], dy[12] = {0}, dx[32], dw[54] = {0}, db[3] = {0};
    for (int i = 0; i < 32; i++) x[i] = 0.5f;
    for (int i = 0; i < 54; i++) w[i] = 0.25f;
    dy[4] = NAN;   /* (oy 0, ox 1), channel 1 */
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&p, &xd, x, &wd, w, &yd, dy, dx, dw, db), MT_OK);
    MT_EXPECT(isnan(dx[(0 * 4 + 1) * 2]) && isnan(dx[(2 * 4 + 3) * 2 + 1]));
    MT_EXPECT(!isnan(dx[0]) && dx[0] == 0.0f);   /* (0, 0) only sees output (0, 0) */
    MT_EXPECT(isnan(dw[27]) && !isnan(dw[0]) && isnan(db[1]) && db[0] == 0.0f);
}

static void check_linear(int32_t N, int32_t K, int32_t O, int zero_every)
{
    const mt_dims xd = {N, 1, 1, K}, wd = {O, 1, 1, K}, yd = {N, 1, 1, O};
    float *x = rand_buf(N * K, 0), *w = rand_buf(O * K, 0), *dy = rand_buf(N * O, zero_every);
    float *dw0 = rand_buf(O * K, 0), *db0 = rand_buf(O, 0);
    float *dx_f = rand_buf(N * K, 0), *dx_r = rand_buf(N * K, 0);
    float *dw_f = copy_buf(dw0, O * K), *dw_r = copy_buf(dw0, O * K);
    float *db_f = copy_buf(db0, O), *db_r = copy_buf(db0, O);
    MT_EXPECT_STATUS(mt_linear_f32_backward(&xd, x, &wd, w, &yd, dy, dx_f, dw_f, db_f), MT_OK);
    MT_EXPECT_STATUS(mt_linear_f32_backward_ref(&xd, x, &wd, w, &yd, dy, dx_r, dw_r, db_r), MT_OK);
    MT_EXPECT(close_all(dx_f, dx_r, N * K, TOL));
    MT_EXPECT(close_all(dw_f, dw_r, O * K, TOL));
    MT_EXPECT(close_all(db_f, db_r, O, TOL));
    /* x only for d_weight, W only for d_in; NULL gradients skipped. */
    float *dx_1 = rand_buf(N * K, 0), *dw_1 = copy_buf(dw0, O * K);
    MT_EXPECT_STATUS(mt_linear_f32_backward(&xd, NULL, &wd, w, &yd, dy, dx_1, NULL, NULL), MT_OK);
    MT_EXPECT_STATUS(mt_linear_f32_backward(&xd, x, &wd, NULL, &yd, dy, NULL, dw_1, NULL), MT_OK);
    MT_EXPECT(close_all(dx_1, dx_r, N * K, TOL));
    MT_EXPECT(close_all(dw_1, dw_r, O * K, TOL));
    for (int32_t o0 = 0; o0 < O; o0 += 3) {
        const int32_t o1 = o0 + 3 < O ? o0 + 3 : O;
        float *bw = copy_buf(dw0 + o0 * K, (o1 - o0) * K), *bb = copy_buf(db0 + o0, o1 - o0);
        float *rw = copy_buf(dw0 + o0 * K, (o1 - o0) * K), *rb = copy_buf(db0 + o0, o1 - o0);
        MT_EXPECT_STATUS(mt_linear_f32_backward_params(&xd, x, &wd, &yd, dy, o0, o1, bw, bb),
                         MT_OK);
        MT_EXPECT_STATUS(mt_linear_f32_backward_params_ref(&xd, x, &wd, &yd, dy, o0, o1, rw, rb),
                         MT_OK);
        MT_EXPECT(close_all(bw, rw, (o1 - o0) * K, TOL));
        MT_EXPECT(close_all(bb, rb, o1 - o0, TOL));
        free(bw); free(bb); free(rw); free(rb);
    }
    /* Batch 1 into a zeroed dW: the same terms in the same order, so exactly equal. */
    if (N == 1) {
        float *z_f = calloc((size_t)(O * K), sizeof(float)), *z_r = calloc((size_t)(O * K), sizeof(float));
        MT_EXPECT_STATUS(mt_linear_f32_backward(&xd, x, &wd, w, &yd, dy, dx_f, z_f, NULL), MT_OK);
        MT_EXPECT_STATUS(mt_linear_f32_backward_ref(&xd, x, &wd, w, &yd, dy, dx_r, z_r, NULL),
                         MT_OK);
        MT_EXPECT(close_all(z_f, z_r, O * K, 0.0));
        MT_EXPECT(close_all(dx_f, dx_r, N * K, 0.0));
        free(z_f); free(z_r);
    }
    free(x); free(w); free(dy); free(dw0); free(db0); free(dx_f); free(dx_r);
    free(dw_f); free(dw_r); free(db_f); free(db_r); free(dx_1); free(dw_1);
}

static void test_linear_grid(void)
{
    static const int32_t Ks[] = {1, 2, 5, 9, 400};
    static const int32_t Os[] = {1, 4, 7, 10};
    for (int32_t N = 1; N <= 3; N++)
        for (int k = 0; k < 5; k++)
            for (int o = 0; o < 4; o++)
                for (int z = 0; z <= 2; z++)
                    check_linear(N, Ks[k], Os[o], z);
}

static void check_maxpool(int32_t N, int32_t H, int32_t W, int32_t C, int32_t k, int32_t s,
                          int32_t pad, int32_t ceil_mode, int ties, int nans)
{
    mt_pool_params p = {k, k, s, s, pad, pad, pad, pad, ceil_mode, 0};
    const int32_t OH = mt_pool_out_size(H, k, s, pad, pad, ceil_mode);
    const int32_t OW = mt_pool_out_size(W, k, s, pad, pad, ceil_mode);
    if (OH < 1 || OW < 1 || pad >= k)
        return;
    const mt_dims xd = {N, H, W, C}, yd = {N, OH, OW, C};
    const int32_t nx = N * H * W * C, ny = N * OH * OW * C;
    float *x = rand_buf(nx, ties), *dy = rand_buf(ny, 3);
    float *dx_f = rand_buf(nx, 0), *dx_r = rand_buf(nx, 0);
    for (int32_t i = 0; nans && i < nx; i++)   /* NaN taps win (the last one, as the scan) */
        if ((i * 7 + nans) % 5 == 0)
            x[i] = NAN;
    MT_EXPECT_STATUS(mt_maxpool2d_f32_backward(&p, &xd, x, &yd, dy, dx_f), MT_OK);
    MT_EXPECT_STATUS(mt_maxpool2d_f32_backward_ref(&p, &xd, x, &yd, dy, dx_r), MT_OK);
    MT_EXPECT(close_all(dx_f, dx_r, nx, TOL));
    free(x); free(dy); free(dx_f); free(dx_r);
}

static void test_maxpool_grid(void)
{
    for (int32_t N = 1; N <= 2; N++)
        for (int32_t H = 1; H <= 7; H += 3)
            for (int32_t k = 1; k <= 3; k++)
                for (int32_t s = 1; s <= 3; s++)
                    for (int32_t pad = 0; pad <= 1; pad++)
                        for (int32_t cm = 0; cm <= 1; cm++) {
                            check_maxpool(N, H, H + 1, 3, k, s, pad, cm, 0, 0);
                            check_maxpool(N, H, H, 1, k, s, pad, cm, 2, 0);   /* tied zeros */
                            check_maxpool(N, H, H + 1, 2, k, s, pad, cm, 0, 1);
                            check_maxpool(N, H + 1, H, 3, k, s, pad, cm, 0, 3);
                        }
    check_maxpool(1, 28, 28, 6, 2, 2, 0, 0, 0, 0);
    check_maxpool(1, 10, 10, 16, 2, 2, 0, 0, 0, 2);
}

/* Plain SGD (fast) against the general loop; the finiteness checks on both. */
static void test_sgd(void)
{
    static const int32_t sizes[] = {1, 3, 4, 7, 150, 401};
    for (int i = 0; i < 6; i++) {
        const int32_t n = sizes[i];
        for (int variant = 0; variant < 3; variant++) {
            mt_sgd_params sp = {0.05f, 0.0f, 0.0f, 0.0f, 0};
            if (variant == 1) sp.weight_decay = 0.01f;
            if (variant == 2) { sp.momentum = 0.9f; sp.dampening = 0.1f; }
            float *g = rand_buf(n, 3), *p_f = rand_buf(n, 0), *p_r = copy_buf(p_f, n);
            float *m_f = calloc((size_t)n, sizeof(float)), *m_r = calloc((size_t)n, sizeof(float));
            for (int32_t step = 1; step <= 2; step++) {
                MT_EXPECT_STATUS(mt_sgd_step_f32(&sp, step, n, p_f, g, m_f), MT_OK);
                MT_EXPECT_STATUS(mt_sgd_step_f32_ref(&sp, step, n, p_r, g, m_r), MT_OK);
            }
            MT_EXPECT(close_all(p_f, p_r, n, 0.0));   /* the same operations */
            /* A non-finite gradient or parameter anywhere: nothing changes. */
            float *p_before = copy_buf(p_f, n);
            g[n - 1] = INFINITY;
            MT_EXPECT_STATUS(mt_sgd_step_f32(&sp, 3, n, p_f, g, m_f), MT_ERR_NONFINITE);
            g[n - 1] = 0.5f;
            p_f[0] = NAN;
            MT_EXPECT_STATUS(mt_sgd_step_f32(&sp, 3, n, p_f, g, m_f), MT_ERR_NONFINITE);
            p_f[0] = p_before[0];
            MT_EXPECT(close_all(p_f, p_before, n, 0.0));
            free(g); free(p_f); free(p_r); free(m_f); free(m_r); free(p_before);
        }
    }
    /* Finite values whose sum overflows are still accepted (checked one by one). */
    float g[4] = {3e38f, 3e38f, -3e38f, 1.0f}, p[4] = {3e38f, 3e38f, 0.0f, 0.0f};
    mt_sgd_params sp = {1e-3f, 0.0f, 0.0f, 0.0f, 0};
    MT_EXPECT_STATUS(mt_sgd_step_f32(&sp, 1, 4, p, g, NULL), MT_OK);
    MT_EXPECT(p[0] == 3e38f - 1e-3f * 3e38f && p[3] == -1e-3f);
}

/* Clip backward in place with ReLU's range (the integer test) against the float
 * comparisons of the out-of-place loop, on every kind of float. */
static void test_relu_backward_in_place(void)
{
    const float specials[] = {0.0f, -0.0f, 1.0f, -1.0f, 1e-45f, -1e-45f, 3.4028235e38f,
                              -3.4028235e38f, INFINITY, -INFINITY, NAN, -NAN, 1.17549435e-38f};
    enum { NS = sizeof specials / sizeof specials[0], SIZE = NS + 64 };
    float y[SIZE], dy[SIZE], d_ref[SIZE];
    for (int i = 0; i < SIZE; i++) {
        y[i] = i < NS ? specials[i] : mt_test_rand(&seed);
        dy[i] = 0.5f + (float)i;
    }
    const mt_range_f32 relu = {0.0f, INFINITY}, relu6 = {0.0f, 6.0f};
    const mt_range_f32 *ranges[2] = {&relu, &relu6};
    for (int r = 0; r < 2; r++) {
        float d[SIZE];
        memcpy(d, dy, sizeof d);
        MT_EXPECT_STATUS(mt_clip_f32_backward(ranges[r], SIZE, y, dy, d_ref), MT_OK);
        MT_EXPECT_STATUS(mt_clip_f32_backward(ranges[r], SIZE, y, d, d), MT_OK);
        MT_EXPECT(memcmp(d, d_ref, sizeof d) == 0);
    }
    MT_EXPECT(d_ref[0] == 0.0f && d_ref[2] == 2.5f && d_ref[4] == 4.5f);
}

int main(void)
{
    test_conv_grid();
    test_conv_nan_propagates();
    test_linear_grid();
    test_maxpool_grid();
    test_sgd();
    test_relu_backward_in_place();
    return mt_test_summary("test_backward_fast");
}
