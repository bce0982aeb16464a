/* test_conv2d.c - mt_conv2d_f32 and its backward: hand-computed examples,
 * a finite-difference gradient check, and status codes. */
#include <math.h>
#include "mt/mt.h"
#include "mt_test.h"

static mt_conv_params conv_params(int32_t stride, int32_t pad, int32_t dilation,
                                  int32_t groups)
{
    mt_conv_params p = { stride, stride, pad, pad, pad, pad, dilation, dilation, groups };
    return p;
}

static void expect_all_near(const float *got, const float *want, int count, double tol)
{
    for (int i = 0; i < count; i++)
        MT_EXPECT_NEAR(got[i], want[i], tol);
}

/* The 3x3 image 1..9 under a 2x2 kernel of ones. */
static void test_forward_by_hand(void)
{
    const float x[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    const float ones[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    const mt_dims xd = { 1, 3, 3, 1 };
    float y[9];

    /* stride 1, no padding: 2x2 window sums */
    {
        mt_conv_params p = conv_params(1, 0, 1, 1);
        mt_dims wd = { 1, 2, 2, 1 }, yd = { 1, 2, 2, 1 };
        const float want[4] = { 12, 16, 24, 28 };
        MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &xd, x, &wd, ones, NULL, &yd, y), MT_OK);
        expect_all_near(y, want, 4, 1e-6);

        /* bias 1 and a fused clamp to [0, 20] */
        const float bias = 1.0f;
        const mt_range_f32 act = { 0.0f, 20.0f };
        const float want_act[4] = { 13, 17, 20, 20 };
        MT_EXPECT_STATUS(mt_conv2d_f32(&p, &act, &xd, x, &wd, ones, &bias, &yd, y), MT_OK);
        expect_all_near(y, want_act, 4, 1e-6);
        /* the clamp's lower bound: bias -20 */
        const float low_bias = -20.0f;
        const float want_low[4] = { 0, 0, 4, 8 };
        MT_EXPECT_STATUS(mt_conv2d_f32(&p, &act, &xd, x, &wd, ones, &low_bias, &yd, y), MT_OK);
        expect_all_near(y, want_low, 4, 1e-6);
    }
    /* 3x3 kernel, stride 2, padding 1: the windows clip to the same 2x2 sums */
    {
        mt_conv_params p = conv_params(2, 1, 1, 1);
        mt_dims wd = { 1, 3, 3, 1 }, yd = { 1, 2, 2, 1 };
        const float want[4] = { 12, 16, 24, 28 };
        MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &xd, x, &wd, ones, NULL, &yd, y), MT_OK);
        expect_all_near(y, want, 4, 1e-6);
    }
    /* per-side padding: one row on top only -> 3x2 output */
    {
        mt_conv_params p = { 1, 1, 1, 0, 0, 0, 1, 1, 1 };
        mt_dims wd = { 1, 2, 2, 1 }, yd = { 1, 3, 2, 1 };
        const float want[6] = { 3, 5, 12, 16, 24, 28 };
        MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &xd, x, &wd, ones, NULL, &yd, y), MT_OK);
        expect_all_near(y, want, 6, 1e-6);
    }
    /* dilation 2: a 2x2 kernel reads the four corners */
    {
        mt_conv_params p = conv_params(1, 0, 2, 1);
        mt_dims wd = { 1, 2, 2, 1 }, yd = { 1, 1, 1, 1 };
        const float w[4] = { 1, 10, 100, 1000 };
        MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &xd, x, &wd, w, NULL, &yd, y), MT_OK);
        MT_EXPECT_NEAR(y[0], 1 * 1 + 3 * 10 + 7 * 100 + 9 * 1000, 1e-6);
    }
}

/* Channels, groups, depthwise, channel multiplier, batch. */
static void test_channels_by_hand(void)
{
    /* one pixel, 2 channels (a, b) = (3, 5), 1x1 kernels */
    const float x[2] = { 3, 5 };
    const mt_dims xd = { 1, 1, 1, 2 };
    float y[4];
    /* dense: 3 outputs, each a dot product over both channels */
    {
        mt_conv_params p = conv_params(1, 0, 1, 1);
        const float w[6] = { 1, 2, -1, 1, 0.5f, 0 };
        const float b[3] = { 0, 1, 2 };
        mt_dims wd = { 3, 1, 1, 2 }, yd = { 1, 1, 1, 3 };
        const float want[3] = { 13, 3, 3.5f };
        MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &xd, x, &wd, w, b, &yd, y), MT_OK);
        expect_all_near(y, want, 3, 1e-6);
    }
    /* depthwise (groups == in_c): (2a, -b) */
    {
        mt_conv_params p = conv_params(1, 0, 1, 2);
        const float w[2] = { 2, -1 };
        mt_dims wd = { 2, 1, 1, 1 }, yd = { 1, 1, 1, 2 };
        const float want[2] = { 6, -5 };
        MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &xd, x, &wd, w, NULL, &yd, y), MT_OK);
        expect_all_near(y, want, 2, 1e-6);
    }
    /* channel multiplier 2: outputs 0,1 read a; outputs 2,3 read b */
    {
        mt_conv_params p = conv_params(1, 0, 1, 2);
        const float w[4] = { 1, 2, 3, 4 };
        mt_dims wd = { 4, 1, 1, 1 }, yd = { 1, 1, 1, 4 };
        const float want[4] = { 3, 6, 15, 20 };
        MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &xd, x, &wd, w, NULL, &yd, y), MT_OK);
        expect_all_near(y, want, 4, 1e-6);
    }
    /* batch 2 gives each sample what a batch-1 call gives it */
    {
        mt_conv_params p = conv_params(1, 1, 1, 1);
        float xb[2 * 3 * 3 * 2], w[2 * 2 * 2 * 2], yb[2 * 4 * 4 * 2], y1[4 * 4 * 2];
        unsigned seed = 7;
        for (int i = 0; i < 36; i++) xb[i] = mt_test_rand(&seed);
        for (int i = 0; i < 16; i++) w[i] = mt_test_rand(&seed);
        mt_dims xbd = { 2, 3, 3, 2 }, x1d = { 1, 3, 3, 2 }, wd = { 2, 2, 2, 2 };
        mt_dims ybd = { 2, 4, 4, 2 }, y1d = { 1, 4, 4, 2 };
        MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &xbd, xb, &wd, w, NULL, &ybd, yb), MT_OK);
        MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &x1d, xb + 18, &wd, w, NULL, &y1d, y1), MT_OK);
        int same = 1;
        for (int i = 0; i < 32; i++) same &= yb[32 + i] == y1[i];
        MT_EXPECT(same);
    }
}

/* Backward of the 3x3 / 2x2-ones example with dL/dy = 1 everywhere. */
static void test_backward_by_hand(void)
{
    const float x[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    const float w[4] = { 1, 1, 1, 1 };
    const float dy[4] = { 1, 1, 1, 1 };
    mt_conv_params p = conv_params(1, 0, 1, 1);
    mt_dims xd = { 1, 3, 3, 1 }, wd = { 1, 2, 2, 1 }, yd = { 1, 2, 2, 1 };
    float dx[9], dw[4], db[1];
    for (int i = 0; i < 9; i++) dx[i] = 99.0f;     /* overwritten */
    for (int i = 0; i < 4; i++) dw[i] = 0.5f;      /* accumulated */
    db[0] = 0.5f;
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&p, &xd, x, &wd, w, &yd, dy, dx, dw, db), MT_OK);
    const float want_dx[9] = { 1, 2, 1, 2, 4, 2, 1, 2, 1 };  /* windows covering each pixel */
    const float want_dw[4] = { 12.5f, 16.5f, 24.5f, 28.5f };
    expect_all_near(dx, want_dx, 9, 1e-6);
    expect_all_near(dw, want_dw, 4, 1e-6);
    MT_EXPECT_NEAR(db[0], 4.5f, 1e-6);

    /* a second call adds up */
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&p, &xd, x, &wd, w, &yd, dy, NULL, dw, db), MT_OK);
    MT_EXPECT_NEAR(dw[0], 24.5f, 1e-6);
    MT_EXPECT_NEAR(db[0], 8.5f, 1e-6);

    /* gradients are optional, and so are the inputs only they need */
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&p, &xd, NULL, &wd, NULL, &yd, dy, NULL, NULL, NULL),
                     MT_OK);
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&p, &xd, NULL, &wd, w, &yd, dy, dx, NULL, db), MT_OK);
    expect_all_near(dx, want_dx, 9, 1e-6);
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&p, &xd, x, &wd, NULL, &yd, dy, NULL, dw, NULL), MT_OK);
    MT_EXPECT_NEAR(dw[3], 3 * 28.0f + 0.5f, 1e-6);
}

/* ---- finite differences: L = sum(y * r), central differences in double ---- */

#define FD_MAX 512

typedef struct {
    mt_conv_params p;
    mt_dims xd, wd, yd;
    float x[FD_MAX], w[FD_MAX], b[FD_MAX], r[FD_MAX];
} fd_case;

static double fd_loss(fd_case *t)
{
    float y[FD_MAX];
    if (mt_conv2d_f32(&t->p, NULL, &t->xd, t->x, &t->wd, t->w, t->b, &t->yd, y) != MT_OK)
        return NAN;
    double loss = 0.0;
    for (int i = 0; i < t->yd.n * t->yd.h * t->yd.w * t->yd.c; i++)
        loss += (double)y[i] * t->r[i];
    return loss;
}

/* Largest |analytic - numeric| over the count entries of v. */
static double fd_max_error(fd_case *t, float *v, int count, const float *analytic)
{
    const float eps = 1e-2f;   /* the loss is linear in every entry: no truncation error */
    double worst = 0.0;
    for (int i = 0; i < count; i++) {
        const float keep = v[i];
        v[i] = keep + eps;
        const double up = fd_loss(t);
        v[i] = keep - eps;
        const double down = fd_loss(t);
        v[i] = keep;
        const double numeric = (up - down) / (2.0 * (double)eps);
        const double err = fabs(numeric - analytic[i]);
        if (!(err <= worst)) worst = err;   /* also catches NaN */
    }
    return worst;
}

static void fd_check(fd_case *t, unsigned seed)
{
    const int nx = t->xd.n * t->xd.h * t->xd.w * t->xd.c;
    const int nw = t->wd.n * t->wd.h * t->wd.w * t->wd.c;
    const int nb = t->wd.n;
    const int ny = t->yd.n * t->yd.h * t->yd.w * t->yd.c;
    MT_EXPECT(nx <= FD_MAX && nw <= FD_MAX && ny <= FD_MAX);
    if (nx > FD_MAX || nw > FD_MAX || ny > FD_MAX)
        return;
    for (int i = 0; i < nx; i++) t->x[i] = mt_test_rand(&seed);
    for (int i = 0; i < nw; i++) t->w[i] = mt_test_rand(&seed);
    for (int i = 0; i < nb; i++) t->b[i] = mt_test_rand(&seed);
    for (int i = 0; i < ny; i++) t->r[i] = mt_test_rand(&seed);

    float dx[FD_MAX], dw[FD_MAX], db[FD_MAX];
    for (int i = 0; i < nx; i++) dx[i] = 1e6f;    /* must be overwritten */
    for (int i = 0; i < nw; i++) dw[i] = 0.0f;
    for (int i = 0; i < nb; i++) db[i] = 0.0f;
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&t->p, &t->xd, t->x, &t->wd, t->w, &t->yd, t->r,
                                            dx, dw, db), MT_OK);
    MT_EXPECT_NEAR(fd_max_error(t, t->x, nx, dx), 0.0, 1e-3);
    MT_EXPECT_NEAR(fd_max_error(t, t->w, nw, dw), 0.0, 1e-3);
    MT_EXPECT_NEAR(fd_max_error(t, t->b, nb, db), 0.0, 1e-3);
}

static void test_finite_differences(void)
{
    static fd_case t;
    /* batch 2, 7x6x4 -> 6 channels in 2 groups, 3x2 kernel, stride 2, padding 1, dilation 2 */
    t.p = conv_params(2, 1, 2, 2);
    t.xd = (mt_dims){ 2, 7, 6, 4 };
    t.wd = (mt_dims){ 6, 3, 2, 2 };
    t.yd = (mt_dims){ 2, mt_conv_out_size(7, 3, 2, 2, 2), mt_conv_out_size(6, 2, 2, 2, 2), 6 };
    MT_EXPECT(t.yd.h == 3 && t.yd.w == 3);
    fd_check(&t, 12345);

    /* depthwise with channel multiplier 2, uneven strides, dilations and pads */
    t.p = (mt_conv_params){ 1, 2, 0, 2, 1, 1, 1, 2, 3 };
    t.xd = (mt_dims){ 1, 5, 6, 3 };
    t.wd = (mt_dims){ 6, 2, 3, 1 };
    t.yd = (mt_dims){ 1, mt_conv_out_size(5, 2, 1, 1, 1), mt_conv_out_size(6, 3, 2, 3, 2), 6 };
    MT_EXPECT(t.yd.h == 5 && t.yd.w == 3);
    fd_check(&t, 999);
}

/* ---- status codes ------------------------------------------------------------ */

static void test_status(void)
{
    /* a valid call: 1x4x4x2 in, 4 filters 3x3x1 in 2 groups -> 1x2x2x4 */
    static float x[64], w[64], b[8], y[64], dx[64], dw[64], db[8];
    const mt_conv_params good = conv_params(1, 0, 1, 2);
    const mt_dims xd = { 1, 4, 4, 2 }, wd = { 4, 3, 3, 1 }, yd = { 1, 2, 2, 4 };
    const mt_range_f32 act = { 0.0f, 6.0f }, bad_act = { 1.0f, 0.0f };
    mt_conv_params p;
    mt_dims d;

    MT_EXPECT_STATUS(mt_conv2d_f32(&good, &act, &xd, x, &wd, w, b, &yd, y), MT_OK);
    MT_EXPECT_STATUS(mt_conv2d_f32(&good, NULL, &xd, x, &wd, w, NULL, &yd, y), MT_OK);

    /* MT_ERR_NULL: every required pointer */
    MT_EXPECT_STATUS(mt_conv2d_f32(NULL, &act, &xd, x, &wd, w, b, &yd, y), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_conv2d_f32(&good, &act, NULL, x, &wd, w, b, &yd, y), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_conv2d_f32(&good, &act, &xd, NULL, &wd, w, b, &yd, y), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_conv2d_f32(&good, &act, &xd, x, NULL, w, b, &yd, y), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_conv2d_f32(&good, &act, &xd, x, &wd, NULL, b, &yd, y), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_conv2d_f32(&good, &act, &xd, x, &wd, w, b, NULL, y), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_conv2d_f32(&good, &act, &xd, x, &wd, w, b, &yd, NULL), MT_ERR_NULL);

    /* MT_ERR_ARG: stride, dilation, groups, padding, clamp range */
    p = good; p.stride_h = 0;
    MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &xd, x, &wd, w, b, &yd, y), MT_ERR_ARG);
    p = good; p.stride_w = -1;
    MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &xd, x, &wd, w, b, &yd, y), MT_ERR_ARG);
    p = good; p.dilation_h = 0;
    MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &xd, x, &wd, w, b, &yd, y), MT_ERR_ARG);
    p = good; p.dilation_w = 0;
    MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &xd, x, &wd, w, b, &yd, y), MT_ERR_ARG);
    p = good; p.groups = 0;
    MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &xd, x, &wd, w, b, &yd, y), MT_ERR_ARG);
    p = good; p.pad_top = -1;
    MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &xd, x, &wd, w, b, &yd, y), MT_ERR_ARG);
    p = good; p.pad_left = -1;
    MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &xd, x, &wd, w, b, &yd, y), MT_ERR_ARG);
    p = good; p.pad_bottom = -1;
    MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &xd, x, &wd, w, b, &yd, y), MT_ERR_ARG);
    p = good; p.pad_right = -1;
    MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &xd, x, &wd, w, b, &yd, y), MT_ERR_ARG);
    MT_EXPECT_STATUS(mt_conv2d_f32(&good, &bad_act, &xd, x, &wd, w, b, &yd, y), MT_ERR_ARG);
    {
        const mt_range_f32 nan_act = { NAN, 1.0f };
        MT_EXPECT_STATUS(mt_conv2d_f32(&good, &nan_act, &xd, x, &wd, w, b, &yd, y), MT_ERR_ARG);
    }

    /* MT_ERR_SHAPE: non-positive and inconsistent dims */
    d = xd; d.h = 0;
    MT_EXPECT_STATUS(mt_conv2d_f32(&good, NULL, &d, x, &wd, w, b, &yd, y), MT_ERR_SHAPE);
    d = xd; d.n = -1;
    MT_EXPECT_STATUS(mt_conv2d_f32(&good, NULL, &d, x, &wd, w, b, &yd, y), MT_ERR_SHAPE);
    d = wd; d.h = 0;                                     /* kernel 0 */
    MT_EXPECT_STATUS(mt_conv2d_f32(&good, NULL, &xd, x, &d, w, b, &yd, y), MT_ERR_SHAPE);
    d = yd; d.c = 0;
    MT_EXPECT_STATUS(mt_conv2d_f32(&good, NULL, &xd, x, &wd, w, b, &d, y), MT_ERR_SHAPE);
    d = yd; d.h = 3;                                     /* wrong out_dims */
    MT_EXPECT_STATUS(mt_conv2d_f32(&good, NULL, &xd, x, &wd, w, b, &d, y), MT_ERR_SHAPE);
    d = yd; d.w = 1;
    MT_EXPECT_STATUS(mt_conv2d_f32(&good, NULL, &xd, x, &wd, w, b, &d, y), MT_ERR_SHAPE);
    d = yd; d.c = 2;                                     /* out_c != filter n */
    MT_EXPECT_STATUS(mt_conv2d_f32(&good, NULL, &xd, x, &wd, w, b, &d, y), MT_ERR_SHAPE);
    d = yd; d.n = 2;                                     /* batch mismatch */
    MT_EXPECT_STATUS(mt_conv2d_f32(&good, NULL, &xd, x, &wd, w, b, &d, y), MT_ERR_SHAPE);
    d = wd; d.c = 2;                                     /* filter c != in_c / groups */
    MT_EXPECT_STATUS(mt_conv2d_f32(&good, NULL, &xd, x, &d, w, b, &yd, y), MT_ERR_SHAPE);
    {
        /* in_c = 3 not divisible by groups = 2 (filter c = 1 = 3 / 2 in integers) */
        const mt_dims x3 = { 1, 4, 4, 3 };
        MT_EXPECT_STATUS(mt_conv2d_f32(&good, NULL, &x3, x, &wd, w, b, &yd, y), MT_ERR_SHAPE);
        /* out_c = 3 not divisible by groups = 2 */
        const mt_dims w3 = { 3, 3, 3, 1 }, y3 = { 1, 2, 2, 3 };
        MT_EXPECT_STATUS(mt_conv2d_f32(&good, NULL, &xd, x, &w3, w, b, &y3, y), MT_ERR_SHAPE);
        /* groups larger than in_c */
        p = good; p.groups = 4;
        MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &xd, x, &wd, w, b, &yd, y), MT_ERR_SHAPE);
        /* a kernel larger than the (padded) input */
        const mt_dims w5 = { 4, 5, 5, 1 }, y1 = { 1, 1, 1, 4 };
        MT_EXPECT_STATUS(mt_conv2d_f32(&good, NULL, &xd, x, &w5, w, b, &y1, y), MT_ERR_SHAPE);
        /* padding whose sum overflows int32 */
        p = good; p.pad_top = INT32_MAX; p.pad_bottom = INT32_MAX;
        MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &xd, x, &wd, w, b, &yd, y), MT_ERR_SHAPE);
        /* an element count that does not fit in int32 */
        const mt_dims huge = { 65536, 65536, 1, 2 };
        MT_EXPECT_STATUS(mt_conv2d_f32(&good, NULL, &huge, x, &wd, w, b, &yd, y), MT_ERR_SHAPE);
    }

    /* the order of the checks: pointers, then parameters, then shapes */
    p = good; p.stride_h = 0;
    d = yd; d.h = 9;
    MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &xd, NULL, &wd, w, b, &d, y), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &xd, x, &wd, w, b, &d, y), MT_ERR_ARG);

    /* backward */
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&good, &xd, x, &wd, w, &yd, y, dx, dw, db), MT_OK);
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(NULL, &xd, x, &wd, w, &yd, y, dx, dw, db), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&good, NULL, x, &wd, w, &yd, y, dx, dw, db), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&good, &xd, x, NULL, w, &yd, y, dx, dw, db), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&good, &xd, x, &wd, w, NULL, y, dx, dw, db), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&good, &xd, x, &wd, w, &yd, NULL, dx, dw, db),
                     MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&good, &xd, NULL, &wd, w, &yd, y, dx, dw, db),
                     MT_ERR_NULL);                       /* d_filter needs in */
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&good, &xd, x, &wd, NULL, &yd, y, dx, dw, db),
                     MT_ERR_NULL);                       /* d_in needs filter */
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&good, &xd, NULL, &wd, NULL, &yd, y, NULL, NULL, NULL),
                     MT_OK);
    p = good; p.dilation_w = 0;
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&p, &xd, x, &wd, w, &yd, y, dx, dw, db), MT_ERR_ARG);
    p = good; p.groups = -2;
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&p, &xd, x, &wd, w, &yd, y, dx, dw, db), MT_ERR_ARG);
    d = yd; d.w = 3;
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&good, &xd, x, &wd, w, &d, y, dx, dw, db),
                     MT_ERR_SHAPE);
    d = wd; d.c = 2;
    MT_EXPECT_STATUS(mt_conv2d_f32_backward(&good, &xd, x, &d, w, &yd, y, NULL, NULL, NULL),
                     MT_ERR_SHAPE);
}

int main(void)
{
    test_forward_by_hand();
    test_channels_by_hand();
    test_backward_by_hand();
    test_finite_differences();
    test_status();
    return mt_test_summary("test_conv2d");
}
