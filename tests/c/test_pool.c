/* test_pool.c - max, average and global average pooling, forward and backward:
 * hand-computed examples, finite-difference gradient checks, status codes. */
#include <math.h>
#include "mt/mt.h"
#include "mt_test.h"

static mt_pool_params pool_params(int32_t kernel, int32_t stride, int32_t pad,
                                  int32_t ceil_mode, int32_t count_include_pad)
{
    mt_pool_params p = { kernel, kernel, stride, stride, pad, pad, pad, pad,
                         ceil_mode, count_include_pad };
    return p;
}

static void expect_all_near(const float *got, const float *want, int count, double tol)
{
    for (int i = 0; i < count; i++)
        MT_EXPECT_NEAR(got[i], want[i], tol);
}

/* ---- max pooling by hand ------------------------------------------------------ */

static void test_maxpool_by_hand(void)
{
    /* The tutorial example: 4x4, 2x2 windows, stride 2 -> all four maxima are 4. */
    {
        const float x[16] = { 1, 2, 1, 2,
                              3, 4, 3, 4,
                              1, 2, 1, 2,
                              3, 4, 3, 4 };
        const mt_pool_params p = pool_params(2, 2, 0, 0, 0);
        const mt_dims xd = { 1, 4, 4, 1 }, yd = { 1, 2, 2, 1 };
        const float want[4] = { 4, 4, 4, 4 };
        float y[4], dx[16];
        MT_EXPECT_STATUS(mt_maxpool2d_f32(&p, &xd, x, &yd, y), MT_OK);
        expect_all_near(y, want, 4, 0.0);

        const float dy[4] = { 1, 2, 3, 4 };
        const float want_dx[16] = { 0, 0, 0, 0,
                                    0, 1, 0, 2,
                                    0, 0, 0, 0,
                                    0, 3, 0, 4 };
        for (int i = 0; i < 16; i++) dx[i] = 99.0f;   /* overwritten */
        MT_EXPECT_STATUS(mt_maxpool2d_f32_backward(&p, &xd, x, &yd, dy, dx), MT_OK);
        expect_all_near(dx, want_dx, 16, 0.0);
    }
    /* Ties: the gradient goes to the first maximum in row-major order. */
    {
        const float x[8] = { 5, 5, 3, 7,
                             5, 5, 7, 1 };
        const mt_pool_params p = pool_params(2, 2, 0, 0, 0);
        const mt_dims xd = { 1, 2, 4, 1 }, yd = { 1, 1, 2, 1 };
        const float dy[2] = { 1, 2 };
        const float want_dx[8] = { 1, 0, 0, 2,
                                   0, 0, 0, 0 };
        float dx[8];
        MT_EXPECT_STATUS(mt_maxpool2d_f32_backward(&p, &xd, x, &yd, dy, dx), MT_OK);
        expect_all_near(dx, want_dx, 8, 0.0);
    }
    /* Overlapping windows (2x2, stride 1) share the centre maximum: gradients add. */
    {
        const float x[9] = { 1, 2, 1,
                             2, 9, 2,
                             1, 2, 1 };
        const mt_pool_params p = pool_params(2, 1, 0, 0, 0);
        const mt_dims xd = { 1, 3, 3, 1 }, yd = { 1, 2, 2, 1 };
        const float dy[4] = { 1, 2, 3, 4 };
        const float want_dx[9] = { 0, 0, 0, 0, 10, 0, 0, 0, 0 };
        float y[4], dx[9];
        MT_EXPECT_STATUS(mt_maxpool2d_f32(&p, &xd, x, &yd, y), MT_OK);
        MT_EXPECT(y[0] == 9 && y[1] == 9 && y[2] == 9 && y[3] == 9);
        MT_EXPECT_STATUS(mt_maxpool2d_f32_backward(&p, &xd, x, &yd, dy, dx), MT_OK);
        expect_all_near(dx, want_dx, 9, 0.0);
    }
    /* Padding is -inf, not 0: negative inputs survive. */
    {
        const float x[4] = { -1, -2, -3, -4 };
        const mt_pool_params p = pool_params(2, 2, 1, 0, 0);
        const mt_dims xd = { 1, 2, 2, 1 }, yd = { 1, 2, 2, 1 };
        const float want[4] = { -1, -2, -3, -4 };
        float y[4];
        MT_EXPECT_STATUS(mt_maxpool2d_f32(&p, &xd, x, &yd, y), MT_OK);
        expect_all_near(y, want, 4, 0.0);
    }
    /* ceil_mode: 5 wide, 2-wide windows, stride 2 -> 2 outputs, or 3 with ceil. */
    {
        const float x[5] = { 1, 5, 2, 4, 3 };
        const mt_dims xd = { 1, 1, 5, 1 }, yd2 = { 1, 1, 2, 1 }, yd3 = { 1, 1, 3, 1 };
        mt_pool_params p = pool_params(2, 2, 0, 0, 0);
        p.kernel_h = 1; p.stride_h = 1;
        float y[3], dx[5];
        MT_EXPECT_STATUS(mt_maxpool2d_f32(&p, &xd, x, &yd2, y), MT_OK);
        MT_EXPECT(y[0] == 5 && y[1] == 4);
        MT_EXPECT_STATUS(mt_maxpool2d_f32(&p, &xd, x, &yd3, y), MT_ERR_SHAPE);
        p.ceil_mode = 1;
        MT_EXPECT_STATUS(mt_maxpool2d_f32(&p, &xd, x, &yd3, y), MT_OK);
        MT_EXPECT(y[0] == 5 && y[1] == 4 && y[2] == 3);
        const float dy[3] = { 1, 2, 3 };
        const float want_dx[5] = { 0, 1, 0, 2, 3 };
        MT_EXPECT_STATUS(mt_maxpool2d_f32_backward(&p, &xd, x, &yd3, dy, dx), MT_OK);
        expect_all_near(dx, want_dx, 5, 0.0);
    }
    /* Channels are pooled independently (NHWC: channels interleave). */
    {
        const float x[8] = { 1, 8, 2, 7, 3, 6, 4, 5 };
        const mt_pool_params p = pool_params(2, 2, 0, 0, 0);
        const mt_dims xd = { 1, 2, 2, 2 }, yd = { 1, 1, 1, 2 };
        float y[2], dx[8];
        const float dy[2] = { 10, 20 };
        const float want_dx[8] = { 0, 20, 0, 0, 0, 0, 10, 0 };
        MT_EXPECT_STATUS(mt_maxpool2d_f32(&p, &xd, x, &yd, y), MT_OK);
        MT_EXPECT(y[0] == 4 && y[1] == 8);
        MT_EXPECT_STATUS(mt_maxpool2d_f32_backward(&p, &xd, x, &yd, dy, dx), MT_OK);
        expect_all_near(dx, want_dx, 8, 0.0);
    }
    /* NaN propagates (as PyTorch); a window of -inf sends its gradient to its first tap. */
    {
        const float x[3] = { 1, NAN, 2 };
        const float ninf[3] = { -INFINITY, -INFINITY, -INFINITY };
        const mt_pool_params p = { 1, 3, 1, 1, 0, 0, 0, 0, 0, 0 };
        const mt_dims xd = { 1, 1, 3, 1 }, yd = { 1, 1, 1, 1 };
        const float dy[1] = { 1 };
        float y[1], dx[3];
        MT_EXPECT_STATUS(mt_maxpool2d_f32(&p, &xd, x, &yd, y), MT_OK);
        MT_EXPECT(isnan(y[0]));
        MT_EXPECT_STATUS(mt_maxpool2d_f32(&p, &xd, ninf, &yd, y), MT_OK);
        MT_EXPECT(isinf(y[0]) && y[0] < 0);
        MT_EXPECT_STATUS(mt_maxpool2d_f32_backward(&p, &xd, ninf, &yd, dy, dx), MT_OK);
        MT_EXPECT(dx[0] == 1 && dx[1] == 0 && dx[2] == 0);
    }
}

/* ---- average pooling by hand ---------------------------------------------------- */

static void test_avgpool_by_hand(void)
{
    /* The tutorial input: every 2x2 window sums to 10. */
    {
        const float x[16] = { 1, 2, 1, 2,
                              3, 4, 3, 4,
                              1, 2, 1, 2,
                              3, 4, 3, 4 };
        const mt_pool_params p = pool_params(2, 2, 0, 0, 1);
        const mt_dims xd = { 1, 4, 4, 1 }, yd = { 1, 2, 2, 1 };
        const float want[4] = { 2.5f, 2.5f, 2.5f, 2.5f };
        float y[4], dx[16];
        MT_EXPECT_STATUS(mt_avgpool2d_f32(&p, &xd, x, &yd, y), MT_OK);
        expect_all_near(y, want, 4, 1e-6);

        const float dy[4] = { 1, 2, 3, 4 };
        const float want_dx[16] = { 0.25f, 0.25f, 0.5f, 0.5f,
                                    0.25f, 0.25f, 0.5f, 0.5f,
                                    0.75f, 0.75f, 1.0f, 1.0f,
                                    0.75f, 0.75f, 1.0f, 1.0f };
        for (int i = 0; i < 16; i++) dx[i] = 99.0f;   /* overwritten */
        MT_EXPECT_STATUS(mt_avgpool2d_f32_backward(&p, &xd, &yd, dy, dx), MT_OK);
        expect_all_near(dx, want_dx, 16, 1e-6);
    }
    /* Padding 1 around 2x2, 2x2 windows, stride 1 -> 3x3: PyTorch divides by the
     * whole window (4), ONNX by the real taps. */
    {
        const float x[4] = { 1, 2, 3, 4 };
        const mt_dims xd = { 1, 2, 2, 1 }, yd = { 1, 3, 3, 1 };
        mt_pool_params p = pool_params(2, 1, 1, 0, 1);
        const float want_incl[9] = { 0.25f, 0.75f, 0.5f, 1.0f, 2.5f, 1.5f, 0.75f, 1.75f, 1.0f };
        const float want_excl[9] = { 1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4 };
        float y[9], dx[4];
        MT_EXPECT_STATUS(mt_avgpool2d_f32(&p, &xd, x, &yd, y), MT_OK);
        expect_all_near(y, want_incl, 9, 1e-6);
        const float dy[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
        const float want_dx_incl[4] = { 1, 1, 1, 1 };   /* 4 windows x 1/4 */
        MT_EXPECT_STATUS(mt_avgpool2d_f32_backward(&p, &xd, &yd, dy, dx), MT_OK);
        expect_all_near(dx, want_dx_incl, 4, 1e-6);

        p.count_include_pad = 0;
        MT_EXPECT_STATUS(mt_avgpool2d_f32(&p, &xd, x, &yd, y), MT_OK);
        expect_all_near(y, want_excl, 9, 1e-6);
        /* each pixel: 1/1 + 1/2 + 1/2 + 1/4 */
        const float want_dx_excl[4] = { 2.25f, 2.25f, 2.25f, 2.25f };
        MT_EXPECT_STATUS(mt_avgpool2d_f32_backward(&p, &xd, &yd, dy, dx), MT_OK);
        expect_all_near(dx, want_dx_excl, 4, 1e-6);
    }
    /* ceil_mode: the last window hangs past the input (no padding there), so it
     * averages 1 tap even with count_include_pad = 1, as PyTorch. */
    {
        const float x[5] = { 1, 2, 3, 4, 5 };
        const mt_dims xd = { 1, 1, 5, 1 }, yd = { 1, 1, 3, 1 };
        mt_pool_params p = pool_params(2, 2, 0, 1, 1);
        p.kernel_h = 1; p.stride_h = 1;
        const float want[3] = { 1.5f, 3.5f, 5 };
        float y[3], dx[5];
        MT_EXPECT_STATUS(mt_avgpool2d_f32(&p, &xd, x, &yd, y), MT_OK);
        expect_all_near(y, want, 3, 1e-6);
        const float dy[3] = { 1, 1, 1 };
        const float want_dx[5] = { 0.5f, 0.5f, 0.5f, 0.5f, 1 };
        MT_EXPECT_STATUS(mt_avgpool2d_f32_backward(&p, &xd, &yd, dy, dx), MT_OK);
        expect_all_near(dx, want_dx, 5, 1e-6);
    }
    /* ceil_mode with padding 1: 4 wide, 3-wide windows, stride 2 -> 3 windows
     * [-1,2) [1,4) [3,5): padded sizes 3, 3, 2 (the last stops at 4 + pad 1). */
    {
        const float x[4] = { 1, 2, 3, 4 };
        const mt_dims xd = { 1, 1, 4, 1 }, yd = { 1, 1, 3, 1 };
        mt_pool_params p = pool_params(3, 2, 1, 1, 1);
        p.kernel_h = 1; p.stride_h = 1; p.pad_top = 0; p.pad_bottom = 0;
        const float want_incl[3] = { 1, 3, 2 };
        const float want_excl[3] = { 1.5f, 3, 4 };
        float y[3];
        MT_EXPECT_STATUS(mt_avgpool2d_f32(&p, &xd, x, &yd, y), MT_OK);
        expect_all_near(y, want_incl, 3, 1e-6);
        p.count_include_pad = 0;
        MT_EXPECT_STATUS(mt_avgpool2d_f32(&p, &xd, x, &yd, y), MT_OK);
        expect_all_near(y, want_excl, 3, 1e-6);
    }
    /* Channels are pooled independently. */
    {
        const float x[8] = { 1, 8, 2, 7, 3, 6, 4, 5 };
        const mt_pool_params p = pool_params(2, 2, 0, 0, 0);
        const mt_dims xd = { 1, 2, 2, 2 }, yd = { 1, 1, 1, 2 };
        float y[2];
        MT_EXPECT_STATUS(mt_avgpool2d_f32(&p, &xd, x, &yd, y), MT_OK);
        MT_EXPECT_NEAR(y[0], 2.5, 1e-6);
        MT_EXPECT_NEAR(y[1], 6.5, 1e-6);
    }
}

static void test_global_avgpool_by_hand(void)
{
    /* 2 samples of 2x2 pixels with 3 channels */
    const float x[24] = { 1, 10, 100,  2, 20, 200,  3, 30, 300,  4, 40, 400,
                          1, 1, 1,     1, 1, 1,     1, 1, 1,     1, 1, 1 };
    const mt_dims xd = { 2, 2, 2, 3 };
    const float want[6] = { 2.5f, 25, 250, 1, 1, 1 };
    float y[6], dx[24];
    MT_EXPECT_STATUS(mt_global_avgpool_f32(&xd, x, y), MT_OK);
    expect_all_near(y, want, 6, 1e-6);

    const float dy[6] = { 4, 8, 12, -4, 0, 1 };
    MT_EXPECT_STATUS(mt_global_avgpool_f32_backward(&xd, dy, dx), MT_OK);
    int ok = 1;
    for (int n = 0; n < 2; n++)
        for (int p = 0; p < 4; p++)
            for (int c = 0; c < 3; c++)
                ok &= dx[(n * 4 + p) * 3 + c] == dy[n * 3 + c] / 4;
    MT_EXPECT(ok);
    MT_EXPECT_STATUS(mt_global_avgpool_f32_backward(&xd, dy, NULL), MT_OK);
}

/* ---- finite differences: L = sum(y * r), central differences in double ---- */

#define FD_MAX 512

typedef struct {
    int is_max;
    mt_pool_params p;
    mt_dims xd, yd;
    float x[FD_MAX], r[FD_MAX];
} fd_case;

static int count_of(const mt_dims *d) { return d->n * d->h * d->w * d->c; }

static double fd_loss(fd_case *t)
{
    float y[FD_MAX];
    mt_status st = t->is_max ? mt_maxpool2d_f32(&t->p, &t->xd, t->x, &t->yd, y)
                             : mt_avgpool2d_f32(&t->p, &t->xd, t->x, &t->yd, y);
    if (st != MT_OK)
        return NAN;
    double loss = 0.0;
    for (int i = 0; i < count_of(&t->yd); i++)
        loss += (double)y[i] * t->r[i];
    return loss;
}

/* Inputs are distinct multiples of 0.01 (shuffled), so a 1e-3 step never
 * changes which tap is a window's maximum; both poolings are then linear. */
static void fd_check(fd_case *t, unsigned seed)
{
    const int nx = count_of(&t->xd), ny = count_of(&t->yd);
    MT_EXPECT(nx <= FD_MAX && ny <= FD_MAX);
    if (nx > FD_MAX || ny > FD_MAX)
        return;
    for (int i = 0; i < nx; i++)
        t->x[i] = 0.01f * (float)(i - nx / 2);
    for (int i = nx - 1; i > 0; i--) {             /* Fisher-Yates shuffle */
        const int j = (int)((mt_test_rand(&seed) + 1.0f) * 0.5f * (float)(i + 1)) % (i + 1);
        const float v = t->x[i]; t->x[i] = t->x[j]; t->x[j] = v;
    }
    for (int i = 0; i < ny; i++)
        t->r[i] = mt_test_rand(&seed);

    float dx[FD_MAX];
    for (int i = 0; i < nx; i++) dx[i] = 1e6f;     /* must be overwritten */
    mt_status st = t->is_max ? mt_maxpool2d_f32_backward(&t->p, &t->xd, t->x, &t->yd, t->r, dx)
                             : mt_avgpool2d_f32_backward(&t->p, &t->xd, &t->yd, t->r, dx);
    MT_EXPECT_STATUS(st, MT_OK);

    const float eps = 1e-3f;
    double worst = 0.0;
    for (int i = 0; i < nx; i++) {
        const float keep = t->x[i];
        t->x[i] = keep + eps;
        const double up = fd_loss(t);
        t->x[i] = keep - eps;
        const double down = fd_loss(t);
        t->x[i] = keep;
        const double err = fabs((up - down) / (2.0 * (double)eps) - dx[i]);
        if (!(err <= worst)) worst = err;          /* also catches NaN */
    }
    MT_EXPECT_NEAR(worst, 0.0, 2e-3);
}

static void test_finite_differences(void)
{
    static fd_case t;
    /* batch 2, 3x3 windows with stride 2 overlap; padding 1; ceil_mode */
    t.p = pool_params(3, 2, 1, 1, 1);
    t.xd = (mt_dims){ 2, 6, 5, 3 };
    t.yd = (mt_dims){ 2, mt_pool_out_size(6, 3, 2, 1, 1, 1), mt_pool_out_size(5, 3, 2, 1, 1, 1), 3 };
    MT_EXPECT(t.yd.h == 4 && t.yd.w == 3);
    for (int is_max = 0; is_max <= 1; is_max++) {
        for (int include = 0; include <= 1; include++) {
            t.is_max = is_max;
            t.p.count_include_pad = include;
            fd_check(&t, 2024u + (unsigned)(2 * is_max + include));
        }
    }
    /* uneven kernel, stride and per-side padding, floor mode, heavy overlap */
    t.p = (mt_pool_params){ 3, 2, 1, 2, 2, 0, 1, 1, 0, 1 };
    t.xd = (mt_dims){ 1, 5, 7, 2 };
    t.yd = (mt_dims){ 1, mt_pool_out_size(5, 3, 1, 2, 1, 0), mt_pool_out_size(7, 2, 2, 0, 1, 0), 2 };
    MT_EXPECT(t.yd.h == 6 && t.yd.w == 4);
    for (int is_max = 0; is_max <= 1; is_max++) {
        t.is_max = is_max;
        fd_check(&t, 77u + (unsigned)is_max);
    }
}

/* ---- status codes ------------------------------------------------------------ */

typedef mt_status (*pool_fn)(const mt_pool_params *, const mt_dims *, const float *,
                             const mt_dims *, float *);

/* The checks both forward poolings share; 1x4x4x2 -> 1x2x2x2 is valid. */
static void test_pool_forward_status(pool_fn pool)
{
    static float x[64], y[64];
    const mt_pool_params good = pool_params(2, 2, 0, 0, 0);
    const mt_dims xd = { 1, 4, 4, 2 }, yd = { 1, 2, 2, 2 };
    mt_pool_params p;
    mt_dims d;

    MT_EXPECT_STATUS(pool(&good, &xd, x, &yd, y), MT_OK);
    MT_EXPECT_STATUS(pool(NULL, &xd, x, &yd, y), MT_ERR_NULL);
    MT_EXPECT_STATUS(pool(&good, NULL, x, &yd, y), MT_ERR_NULL);
    MT_EXPECT_STATUS(pool(&good, &xd, NULL, &yd, y), MT_ERR_NULL);
    MT_EXPECT_STATUS(pool(&good, &xd, x, NULL, y), MT_ERR_NULL);
    MT_EXPECT_STATUS(pool(&good, &xd, x, &yd, NULL), MT_ERR_NULL);

    p = good; p.kernel_h = 0;
    MT_EXPECT_STATUS(pool(&p, &xd, x, &yd, y), MT_ERR_ARG);
    p = good; p.kernel_w = -1;
    MT_EXPECT_STATUS(pool(&p, &xd, x, &yd, y), MT_ERR_ARG);
    p = good; p.stride_h = 0;
    MT_EXPECT_STATUS(pool(&p, &xd, x, &yd, y), MT_ERR_ARG);
    p = good; p.stride_w = 0;
    MT_EXPECT_STATUS(pool(&p, &xd, x, &yd, y), MT_ERR_ARG);
    p = good; p.pad_top = -1;
    MT_EXPECT_STATUS(pool(&p, &xd, x, &yd, y), MT_ERR_ARG);
    p = good; p.pad_left = -1;
    MT_EXPECT_STATUS(pool(&p, &xd, x, &yd, y), MT_ERR_ARG);
    p = good; p.pad_bottom = -1;
    MT_EXPECT_STATUS(pool(&p, &xd, x, &yd, y), MT_ERR_ARG);
    p = good; p.pad_right = -1;
    MT_EXPECT_STATUS(pool(&p, &xd, x, &yd, y), MT_ERR_ARG);
    p = good; p.pad_top = 2;                        /* a pad as large as the kernel */
    MT_EXPECT_STATUS(pool(&p, &xd, x, &yd, y), MT_ERR_ARG);
    p = good; p.pad_right = 2;
    MT_EXPECT_STATUS(pool(&p, &xd, x, &yd, y), MT_ERR_ARG);

    d = xd; d.h = 0;
    MT_EXPECT_STATUS(pool(&good, &d, x, &yd, y), MT_ERR_SHAPE);
    d = xd; d.c = -3;
    MT_EXPECT_STATUS(pool(&good, &d, x, &yd, y), MT_ERR_SHAPE);
    d = yd; d.w = 0;
    MT_EXPECT_STATUS(pool(&good, &xd, x, &d, y), MT_ERR_SHAPE);
    d = yd; d.h = 3;                                /* wrong out_dims */
    MT_EXPECT_STATUS(pool(&good, &xd, x, &d, y), MT_ERR_SHAPE);
    d = yd; d.w = 1;
    MT_EXPECT_STATUS(pool(&good, &xd, x, &d, y), MT_ERR_SHAPE);
    d = yd; d.c = 1;                                /* channel mismatch */
    MT_EXPECT_STATUS(pool(&good, &xd, x, &d, y), MT_ERR_SHAPE);
    d = yd; d.n = 2;                                /* batch mismatch */
    MT_EXPECT_STATUS(pool(&good, &xd, x, &d, y), MT_ERR_SHAPE);
    p = good; p.kernel_h = 5;                       /* window larger than the input */
    d = yd; d.h = 1;
    MT_EXPECT_STATUS(pool(&p, &xd, x, &d, y), MT_ERR_SHAPE);
    {
        const mt_dims huge = { 65536, 65536, 1, 2 };
        MT_EXPECT_STATUS(pool(&good, &huge, x, &yd, y), MT_ERR_SHAPE);
        p = good; p.kernel_h = INT32_MAX; p.pad_top = INT32_MAX - 1;
        MT_EXPECT_STATUS(pool(&p, &xd, x, &yd, y), MT_ERR_SHAPE);
    }
    /* the order of the checks: pointers, then parameters, then shapes */
    p = good; p.stride_h = 0;
    d = yd; d.h = 7;
    MT_EXPECT_STATUS(pool(&p, &xd, x, &d, NULL), MT_ERR_NULL);
    MT_EXPECT_STATUS(pool(&p, &xd, x, &d, y), MT_ERR_ARG);
}

static void test_status(void)
{
    static float x[64], dy[64], dx[64];
    const mt_pool_params good = pool_params(2, 2, 0, 0, 0);
    const mt_dims xd = { 1, 4, 4, 2 }, yd = { 1, 2, 2, 2 };
    mt_pool_params p;
    mt_dims d;

    test_pool_forward_status(mt_maxpool2d_f32);
    test_pool_forward_status(mt_avgpool2d_f32);

    MT_EXPECT_STATUS(mt_maxpool2d_f32_backward(&good, &xd, x, &yd, dy, dx), MT_OK);
    MT_EXPECT_STATUS(mt_maxpool2d_f32_backward(&good, &xd, x, &yd, dy, NULL), MT_OK);
    MT_EXPECT_STATUS(mt_maxpool2d_f32_backward(NULL, &xd, x, &yd, dy, dx), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_maxpool2d_f32_backward(&good, NULL, x, &yd, dy, dx), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_maxpool2d_f32_backward(&good, &xd, NULL, &yd, dy, dx), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_maxpool2d_f32_backward(&good, &xd, x, NULL, dy, dx), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_maxpool2d_f32_backward(&good, &xd, x, &yd, NULL, dx), MT_ERR_NULL);
    p = good; p.kernel_w = 0;
    MT_EXPECT_STATUS(mt_maxpool2d_f32_backward(&p, &xd, x, &yd, dy, dx), MT_ERR_ARG);
    p = good; p.stride_w = 0;
    MT_EXPECT_STATUS(mt_maxpool2d_f32_backward(&p, &xd, x, &yd, dy, dx), MT_ERR_ARG);
    d = yd; d.h = 1;
    MT_EXPECT_STATUS(mt_maxpool2d_f32_backward(&good, &xd, x, &d, dy, dx), MT_ERR_SHAPE);
    d = yd; d.n = 3;
    MT_EXPECT_STATUS(mt_maxpool2d_f32_backward(&good, &xd, x, &d, dy, NULL), MT_ERR_SHAPE);

    MT_EXPECT_STATUS(mt_avgpool2d_f32_backward(&good, &xd, &yd, dy, dx), MT_OK);
    MT_EXPECT_STATUS(mt_avgpool2d_f32_backward(&good, &xd, &yd, dy, NULL), MT_OK);
    MT_EXPECT_STATUS(mt_avgpool2d_f32_backward(NULL, &xd, &yd, dy, dx), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_avgpool2d_f32_backward(&good, NULL, &yd, dy, dx), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_avgpool2d_f32_backward(&good, &xd, NULL, dy, dx), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_avgpool2d_f32_backward(&good, &xd, &yd, NULL, dx), MT_ERR_NULL);
    p = good; p.kernel_h = 0;
    MT_EXPECT_STATUS(mt_avgpool2d_f32_backward(&p, &xd, &yd, dy, dx), MT_ERR_ARG);
    p = good; p.pad_left = -1;
    MT_EXPECT_STATUS(mt_avgpool2d_f32_backward(&p, &xd, &yd, dy, dx), MT_ERR_ARG);
    d = yd; d.c = 3;
    MT_EXPECT_STATUS(mt_avgpool2d_f32_backward(&good, &xd, &d, dy, dx), MT_ERR_SHAPE);

    MT_EXPECT_STATUS(mt_global_avgpool_f32(&xd, x, dx), MT_OK);
    MT_EXPECT_STATUS(mt_global_avgpool_f32(NULL, x, dx), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_global_avgpool_f32(&xd, NULL, dx), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_global_avgpool_f32(&xd, x, NULL), MT_ERR_NULL);
    d = xd; d.w = 0;
    MT_EXPECT_STATUS(mt_global_avgpool_f32(&d, x, dx), MT_ERR_SHAPE);
    MT_EXPECT_STATUS(mt_global_avgpool_f32_backward(&xd, dy, dx), MT_OK);
    MT_EXPECT_STATUS(mt_global_avgpool_f32_backward(NULL, dy, dx), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_global_avgpool_f32_backward(&xd, NULL, dx), MT_ERR_NULL);
    d = xd; d.n = 0;
    MT_EXPECT_STATUS(mt_global_avgpool_f32_backward(&d, dy, NULL), MT_ERR_SHAPE);
}

int main(void)
{
    test_maxpool_by_hand();
    test_avgpool_by_hand();
    test_global_avgpool_by_hand();
    test_finite_differences();
    test_status();
    return mt_test_summary("test_pool");
}
