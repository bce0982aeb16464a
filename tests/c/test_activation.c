/* test_activation.c - elementwise activations, softmax and log-softmax:
 * hand examples, stability, finite differences in double, in-place calls and
 * status codes. */
#include <math.h>
#include <string.h>
#include "mt/mt.h"
#include "mt_test.h"

/* ---- the elementwise ops behind one interface ------------------------------ */

enum { RELU, CLIP, LEAKY, SIGMOID, TANH, STEP, NUM_OPS };
static const char *op_name[NUM_OPS] = {"relu", "clip", "leaky_relu", "sigmoid", "tanh", "step"};
static const mt_range_f32 CLIP_RANGE = {-0.5f, 0.7f};
static const float ALPHA = 0.1f;

static mt_status fwd(int op, int32_t size, const float *in, float *out)
{
    switch (op) {
    case RELU:    return mt_relu_f32(size, in, out);
    case CLIP:    return mt_clip_f32(&CLIP_RANGE, size, in, out);
    case LEAKY:   return mt_leaky_relu_f32(ALPHA, size, in, out);
    case SIGMOID: return mt_sigmoid_f32(size, in, out);
    case TANH:    return mt_tanh_f32(size, in, out);
    default:      return mt_step_f32(size, in, out);
    }
}

static mt_status bwd(int op, int32_t size, const float *y, const float *dy, float *dx)
{
    switch (op) {
    case RELU:    return mt_relu_f32_backward(size, y, dy, dx);
    case CLIP:    return mt_clip_f32_backward(&CLIP_RANGE, size, y, dy, dx);
    case LEAKY:   return mt_leaky_relu_f32_backward(ALPHA, size, y, dy, dx);
    case SIGMOID: return mt_sigmoid_f32_backward(size, y, dy, dx);
    case TANH:    return mt_tanh_f32_backward(size, y, dy, dx);
    default:      return mt_step_f32_backward(size, y, dy, dx);
    }
}

/* Double-precision reference of each op. */
static double ref(int op, double x)
{
    switch (op) {
    case RELU:    return x > 0 ? x : 0;
    case CLIP:    return x < CLIP_RANGE.lo ? CLIP_RANGE.lo : x > CLIP_RANGE.hi ? CLIP_RANGE.hi : x;
    case LEAKY:   return x > 0 ? x : (double)ALPHA * x;
    case SIGMOID: return 1.0 / (1.0 + exp(-x));
    case TANH:    return tanh(x);
    default:      return x > 0 ? 1 : 0;
    }
}

/* 1 if x is within 1e-2 of a kink of op (finite differences are meaningless there). */
static int near_kink(int op, double x)
{
    if (op == CLIP)
        return fabs(x - CLIP_RANGE.lo) < 1e-2 || fabs(x - CLIP_RANGE.hi) < 1e-2;
    return fabs(x) < 1e-2;
}

enum { SIZE = 37 };

static void test_elementwise_fd(void)
{
    for (int op = 0; op < NUM_OPS; op++) {
        float x[SIZE], y[SIZE], dy[SIZE], dx[SIZE];
        unsigned seed = 777u + (unsigned)op;
        for (int i = 0; i < SIZE; i++) {
            do x[i] = 3.0f * mt_test_rand(&seed); while (near_kink(op, x[i]));
            dy[i] = mt_test_rand(&seed);
        }
        MT_EXPECT_STATUS(fwd(op, SIZE, x, y), MT_OK);
        MT_EXPECT_STATUS(bwd(op, SIZE, y, dy, dx), MT_OK);
        int bad = 0;
        for (int i = 0; i < SIZE; i++) {
            const double h = 1e-6;
            double num = dy[i] * (ref(op, x[i] + h) - ref(op, x[i] - h)) / (2 * h);
            if (fabs(y[i] - ref(op, x[i])) > 1e-6 || fabs(dx[i] - num) > 1e-6) bad++;
        }
        if (bad) fprintf(stderr, "%s: %d elements off\n", op_name[op], bad);
        MT_EXPECT(bad == 0);
    }
}

static void test_elementwise_in_place(void)
{
    for (int op = 0; op < NUM_OPS; op++) {
        float x[SIZE], y[SIZE], dy[SIZE], dx[SIZE], buf[SIZE];
        unsigned seed = 99u + (unsigned)op;
        for (int i = 0; i < SIZE; i++) {
            x[i] = 4.0f * mt_test_rand(&seed);
            dy[i] = mt_test_rand(&seed);
        }
        MT_EXPECT_STATUS(fwd(op, SIZE, x, y), MT_OK);
        memcpy(buf, x, sizeof buf);
        MT_EXPECT_STATUS(fwd(op, SIZE, buf, buf), MT_OK);
        MT_EXPECT(memcmp(buf, y, sizeof y) == 0);

        MT_EXPECT_STATUS(bwd(op, SIZE, y, dy, dx), MT_OK);
        memcpy(buf, dy, sizeof buf);
        MT_EXPECT_STATUS(bwd(op, SIZE, y, buf, buf), MT_OK);
        MT_EXPECT(memcmp(buf, dx, sizeof dx) == 0);
    }
}

static void test_elementwise_hand(void)
{
    /* relu */
    float x[5] = {-2.0f, -0.0f, 0.0f, 1.5f, NAN}, y[8], dx[8];
    const float dy[5] = {1, 2, 3, 4, 5};
    MT_EXPECT_STATUS(mt_relu_f32(5, x, y), MT_OK);
    MT_EXPECT(y[0] == 0.0f && y[1] == 0.0f && y[2] == 0.0f && y[3] == 1.5f && isnan(y[4]));
    MT_EXPECT_STATUS(mt_relu_f32_backward(4, y, dy, dx), MT_OK);
    MT_EXPECT(dx[0] == 0.0f && dx[1] == 0.0f && dx[2] == 0.0f && dx[3] == 4.0f);

    /* clip as ReLU6: the gradient mask is exclusive at both ends */
    const mt_range_f32 relu6 = {0.0f, 6.0f};
    const float xc[5] = {-1, 0, 3, 6, 7};
    MT_EXPECT_STATUS(mt_clip_f32(&relu6, 5, xc, y), MT_OK);
    MT_EXPECT(y[0] == 0 && y[1] == 0 && y[2] == 3 && y[3] == 6 && y[4] == 6);
    MT_EXPECT_STATUS(mt_clip_f32_backward(&relu6, 5, y, dy, dx), MT_OK);
    MT_EXPECT(dx[0] == 0 && dx[1] == 0 && dx[2] == 3 && dx[3] == 0 && dx[4] == 0);
    const float nan1[1] = {NAN};
    MT_EXPECT_STATUS(mt_clip_f32(&relu6, 1, nan1, y), MT_OK);
    MT_EXPECT(isnan(y[0]));
    const mt_range_f32 point = {2.0f, 2.0f};       /* lo == hi is allowed */
    MT_EXPECT_STATUS(mt_clip_f32(&point, 5, xc, y), MT_OK);
    MT_EXPECT(y[0] == 2 && y[4] == 2);

    /* leaky relu: y = x > 0 ? x : 0.1x; at x = 0 the slope is alpha (as PyTorch) */
    const float xl[3] = {-2, 0, 3};
    MT_EXPECT_STATUS(mt_leaky_relu_f32(0.1f, 3, xl, y), MT_OK);
    MT_EXPECT_NEAR(y[0], -0.2, 1e-7);
    MT_EXPECT(y[1] == 0 && y[2] == 3);
    MT_EXPECT_STATUS(mt_leaky_relu_f32_backward(0.1f, 3, y, dy, dx), MT_OK);
    MT_EXPECT_NEAR(dx[0], 0.1, 1e-7);
    MT_EXPECT_NEAR(dx[1], 0.2, 1e-7);
    MT_EXPECT(dx[2] == 3);
    /* alpha = 0 is relu */
    MT_EXPECT_STATUS(mt_leaky_relu_f32(0.0f, 3, xl, y), MT_OK);
    MT_EXPECT(y[0] == 0 && y[1] == 0 && y[2] == 3);
    MT_EXPECT_STATUS(mt_leaky_relu_f32_backward(0.0f, 3, y, dy, dx), MT_OK);
    MT_EXPECT(dx[0] == 0 && dx[1] == 0 && dx[2] == 3);

    /* sigmoid: stable and finite for large |x|, relatively accurate for x << 0 */
    const float xs[7] = {0, 100, -100, 1000, -1000, -20, INFINITY};
    MT_EXPECT_STATUS(mt_sigmoid_f32(7, xs, y), MT_OK);
    MT_EXPECT(y[0] == 0.5f && y[1] == 1.0f && y[3] == 1.0f && y[6] == 1.0f);
    MT_EXPECT(y[2] >= 0.0f && y[2] < 1e-40f && y[4] == 0.0f);
    MT_EXPECT(fabs(y[5] / (1.0 / (1.0 + exp(20.0))) - 1.0) < 1e-6);
    float ys = 0.5f, g = 1.0f, ds;
    MT_EXPECT_STATUS(mt_sigmoid_f32_backward(1, &ys, &g, &ds), MT_OK);
    MT_EXPECT(ds == 0.25f);
    MT_EXPECT_STATUS(mt_sigmoid_f32(1, nan1, y), MT_OK);
    MT_EXPECT(isnan(y[0]));

    /* tanh */
    const float xt[4] = {0, 100, -100, -INFINITY};
    MT_EXPECT_STATUS(mt_tanh_f32(4, xt, y), MT_OK);
    MT_EXPECT(y[0] == 0 && y[1] == 1 && y[2] == -1 && y[3] == -1);
    MT_EXPECT_STATUS(mt_tanh_f32_backward(4, y, dy, dx), MT_OK);
    MT_EXPECT(dx[0] == 1 && dx[1] == 0 && dx[2] == 0 && dx[3] == 0);

    /* step: heaviside(x, 0); its backward writes zeros */
    const float xh[5] = {-1, -0.0f, 0, 2, NAN};
    MT_EXPECT_STATUS(mt_step_f32(5, xh, y), MT_OK);
    MT_EXPECT(y[0] == 0 && y[1] == 0 && y[2] == 0 && y[3] == 1 && y[4] == 0);
    for (int i = 0; i < 5; i++) dx[i] = 42.0f;
    MT_EXPECT_STATUS(mt_step_f32_backward(5, y, dy, dx), MT_OK);
    MT_EXPECT(dx[0] == 0 && dx[1] == 0 && dx[2] == 0 && dx[3] == 0 && dx[4] == 0);
}

static void test_elementwise_status(void)
{
    float x[4] = {0}, y[4] = {0}, d[4] = {0};
    for (int op = 0; op < NUM_OPS; op++) {
        MT_EXPECT_STATUS(fwd(op, 4, NULL, y), MT_ERR_NULL);
        MT_EXPECT_STATUS(fwd(op, 4, x, NULL), MT_ERR_NULL);
        MT_EXPECT_STATUS(fwd(op, 0, x, y), MT_ERR_SHAPE);
        MT_EXPECT_STATUS(fwd(op, -1, x, y), MT_ERR_SHAPE);
        MT_EXPECT_STATUS(fwd(op, 0, NULL, y), MT_ERR_NULL);        /* NULL first */
        MT_EXPECT_STATUS(bwd(op, 4, y, NULL, d), MT_ERR_NULL);
        MT_EXPECT_STATUS(bwd(op, 4, NULL, d, d), MT_ERR_NULL);
        MT_EXPECT_STATUS(bwd(op, 0, y, d, d), MT_ERR_SHAPE);
        MT_EXPECT_STATUS(bwd(op, -5, y, d, d), MT_ERR_SHAPE);
        /* a NULL d_in skips the gradient; y is then not needed */
        MT_EXPECT_STATUS(bwd(op, 4, NULL, d, NULL), MT_OK);
    }
    const mt_range_f32 r = {0, 1}, bad = {1, 0}, nan_lo = {NAN, 1}, nan_hi = {0, NAN};
    MT_EXPECT_STATUS(mt_clip_f32(NULL, 4, x, y), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_clip_f32_backward(NULL, 4, y, d, d), MT_ERR_NULL);
    const mt_range_f32 *bad_ranges[3] = {&bad, &nan_lo, &nan_hi};
    for (int i = 0; i < 3; i++) {
        MT_EXPECT_STATUS(mt_clip_f32(bad_ranges[i], 4, x, y), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_clip_f32_backward(bad_ranges[i], 4, y, d, d), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_clip_f32(bad_ranges[i], 0, x, y), MT_ERR_ARG);   /* ARG before SHAPE */
    }
    MT_EXPECT_STATUS(mt_clip_f32(&bad, 4, NULL, y), MT_ERR_NULL);           /* NULL before ARG */
    MT_EXPECT_STATUS(mt_clip_f32(&r, 4, x, y), MT_OK);
    const float bad_alpha[3] = {-0.1f, NAN, INFINITY};
    for (int i = 0; i < 3; i++) {
        MT_EXPECT_STATUS(mt_leaky_relu_f32(bad_alpha[i], 4, x, y), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_leaky_relu_f32_backward(bad_alpha[i], 4, y, d, d), MT_ERR_ARG);
    }
    MT_EXPECT_STATUS(mt_leaky_relu_f32(-1.0f, 4, NULL, y), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_leaky_relu_f32(-1.0f, 0, x, y), MT_ERR_ARG);
}

/* ---- softmax and log-softmax -------------------------------------------------- */

enum { ROWS = 3, COLS = 5 };

/* L = sum c * softmax(x) (log = 0) or sum c * log_softmax(x) (log = 1), in double. */
static double ref_softmax_loss(int log_form, const double *x, const double *c)
{
    double L = 0.0;
    for (int r = 0; r < ROWS; r++) {
        const double *xr = x + r * COLS;
        double s = 0.0;
        for (int j = 0; j < COLS; j++) s += exp(xr[j]);
        for (int j = 0; j < COLS; j++)
            L += c[r * COLS + j] * (log_form ? xr[j] - log(s) : exp(xr[j]) / s);
    }
    return L;
}

static void test_softmax_fd(void)
{
    for (int log_form = 0; log_form < 2; log_form++) {
        float x[ROWS * COLS], y[ROWS * COLS], c[ROWS * COLS], dx[ROWS * COLS];
        double xx[ROWS * COLS], cc[ROWS * COLS];
        unsigned seed = 4242u + (unsigned)log_form;
        for (int i = 0; i < ROWS * COLS; i++) {
            xx[i] = x[i] = 3.0f * mt_test_rand(&seed);
            cc[i] = c[i] = mt_test_rand(&seed);
        }
        if (log_form) {
            MT_EXPECT_STATUS(mt_log_softmax_f32(ROWS, COLS, x, y), MT_OK);
            MT_EXPECT_STATUS(mt_log_softmax_f32_backward(ROWS, COLS, y, c, dx), MT_OK);
        } else {
            MT_EXPECT_STATUS(mt_softmax_f32(ROWS, COLS, x, y), MT_OK);
            MT_EXPECT_STATUS(mt_softmax_f32_backward(ROWS, COLS, y, c, dx), MT_OK);
        }
        for (int i = 0; i < ROWS * COLS; i++) {
            /* forward: one-hot c picks out y[i] */
            double onehot[ROWS * COLS] = {0};
            onehot[i] = 1.0;
            MT_EXPECT_NEAR(y[i], ref_softmax_loss(log_form, xx, onehot), 1e-6);
            /* backward */
            const double h = 1e-6, keep = xx[i];
            xx[i] = keep + h;
            double lp = ref_softmax_loss(log_form, xx, cc);
            xx[i] = keep - h;
            double lm = ref_softmax_loss(log_form, xx, cc);
            xx[i] = keep;
            MT_EXPECT_NEAR(dx[i], (lp - lm) / (2 * h), 1e-5);
        }
    }
}

static void test_softmax_hand(void)
{
    const float x[3] = {1, 2, 3}, big[3] = {1001, 1002, 1003}, neg[3] = {-1001, -1000, -999};
    const double p[3] = {0.090030573170380462, 0.24472847105479764, 0.66524095577482190};
    float y[3];
    const float *inputs[3] = {x, big, neg};
    for (int k = 0; k < 3; k++) {
        MT_EXPECT_STATUS(mt_softmax_f32(1, 3, inputs[k], y), MT_OK);
        for (int j = 0; j < 3; j++) MT_EXPECT_NEAR(y[j], p[j], 1e-6);
        MT_EXPECT_STATUS(mt_log_softmax_f32(1, 3, inputs[k], y), MT_OK);
        for (int j = 0; j < 3; j++) MT_EXPECT_NEAR(y[j], log(p[j]), 1e-6);
    }
    /* exp(-200) underflows in float, log_softmax does not */
    const float far[2] = {0, -200};
    MT_EXPECT_STATUS(mt_log_softmax_f32(1, 2, far, y), MT_OK);
    MT_EXPECT(y[0] == 0.0f && y[1] == -200.0f);
    MT_EXPECT_STATUS(mt_softmax_f32(1, 2, far, y), MT_OK);
    MT_EXPECT(y[0] == 1.0f && y[1] == 0.0f);

    /* rows are independent: two rows with different offsets */
    const float two[6] = {1, 2, 3, 11, 12, 13};
    float y2[6];
    MT_EXPECT_STATUS(mt_softmax_f32(2, 3, two, y2), MT_OK);
    for (int j = 0; j < 3; j++) {
        MT_EXPECT_NEAR(y2[j], p[j], 1e-6);
        MT_EXPECT_NEAR(y2[3 + j], p[j], 1e-6);
    }

    /* one column: softmax 1, log_softmax 0, zero gradient */
    const float col[2] = {5, -7}, dy[2] = {3, 4};
    float dx[2];
    MT_EXPECT_STATUS(mt_softmax_f32(2, 1, col, y), MT_OK);
    MT_EXPECT(y[0] == 1.0f && y[1] == 1.0f);
    MT_EXPECT_STATUS(mt_softmax_f32_backward(2, 1, y, dy, dx), MT_OK);
    MT_EXPECT(dx[0] == 0.0f && dx[1] == 0.0f);
    MT_EXPECT_STATUS(mt_log_softmax_f32(2, 1, col, y), MT_OK);
    MT_EXPECT(y[0] == 0.0f && y[1] == 0.0f);
    MT_EXPECT_STATUS(mt_log_softmax_f32_backward(2, 1, y, dy, dx), MT_OK);
    MT_EXPECT(dx[0] == 0.0f && dx[1] == 0.0f);

    /* softmax backward by hand: y = [0.5, 0.5], dy = [1, 0] -> dot 0.5 -> [0.25, -0.25] */
    const float yh[2] = {0.5f, 0.5f}, dyh[2] = {1, 0};
    MT_EXPECT_STATUS(mt_softmax_f32_backward(1, 2, yh, dyh, dx), MT_OK);
    MT_EXPECT(dx[0] == 0.25f && dx[1] == -0.25f);
    /* log_softmax backward by hand: y = log[0.5, 0.5], dy = [1, 0] -> [0.5, -0.5] */
    const float lyh[2] = {logf(0.5f), logf(0.5f)};
    MT_EXPECT_STATUS(mt_log_softmax_f32_backward(1, 2, lyh, dyh, dx), MT_OK);
    MT_EXPECT_NEAR(dx[0], 0.5, 1e-7);
    MT_EXPECT_NEAR(dx[1], -0.5, 1e-7);
}

static void test_softmax_in_place(void)
{
    float x[ROWS * COLS], y[ROWS * COLS], dy[ROWS * COLS], dx[ROWS * COLS], buf[ROWS * COLS];
    unsigned seed = 31337u;
    for (int i = 0; i < ROWS * COLS; i++) {
        x[i] = 5.0f * mt_test_rand(&seed);
        dy[i] = mt_test_rand(&seed);
    }
    for (int log_form = 0; log_form < 2; log_form++) {
        mt_status (*f)(int32_t, int32_t, const float *, float *) =
            log_form ? mt_log_softmax_f32 : mt_softmax_f32;
        mt_status (*b)(int32_t, int32_t, const float *, const float *, float *) =
            log_form ? mt_log_softmax_f32_backward : mt_softmax_f32_backward;
        MT_EXPECT_STATUS(f(ROWS, COLS, x, y), MT_OK);
        memcpy(buf, x, sizeof buf);
        MT_EXPECT_STATUS(f(ROWS, COLS, buf, buf), MT_OK);
        MT_EXPECT(memcmp(buf, y, sizeof y) == 0);
        MT_EXPECT_STATUS(b(ROWS, COLS, y, dy, dx), MT_OK);
        memcpy(buf, dy, sizeof buf);
        MT_EXPECT_STATUS(b(ROWS, COLS, y, buf, buf), MT_OK);
        MT_EXPECT(memcmp(buf, dx, sizeof dx) == 0);
    }
}

static void test_softmax_status(void)
{
    float x[4] = {0}, y[4] = {0}, d[4] = {0};
    for (int log_form = 0; log_form < 2; log_form++) {
        mt_status (*f)(int32_t, int32_t, const float *, float *) =
            log_form ? mt_log_softmax_f32 : mt_softmax_f32;
        mt_status (*b)(int32_t, int32_t, const float *, const float *, float *) =
            log_form ? mt_log_softmax_f32_backward : mt_softmax_f32_backward;
        MT_EXPECT_STATUS(f(2, 2, NULL, y), MT_ERR_NULL);
        MT_EXPECT_STATUS(f(2, 2, x, NULL), MT_ERR_NULL);
        MT_EXPECT_STATUS(f(0, 2, NULL, y), MT_ERR_NULL);
        MT_EXPECT_STATUS(f(0, 2, x, y), MT_ERR_SHAPE);
        MT_EXPECT_STATUS(f(2, 0, x, y), MT_ERR_SHAPE);
        MT_EXPECT_STATUS(f(-1, 2, x, y), MT_ERR_SHAPE);
        MT_EXPECT_STATUS(f(65536, 65536, x, y), MT_ERR_SHAPE);
        MT_EXPECT_STATUS(b(2, 2, y, NULL, d), MT_ERR_NULL);
        MT_EXPECT_STATUS(b(2, 2, NULL, d, d), MT_ERR_NULL);
        MT_EXPECT_STATUS(b(2, 0, y, d, d), MT_ERR_SHAPE);
        MT_EXPECT_STATUS(b(65536, 65536, y, d, d), MT_ERR_SHAPE);
        MT_EXPECT_STATUS(b(2, 2, NULL, d, NULL), MT_OK);
    }
}

int main(void)
{
    test_elementwise_hand();
    test_elementwise_fd();
    test_elementwise_in_place();
    test_elementwise_status();
    test_softmax_hand();
    test_softmax_fd();
    test_softmax_in_place();
    test_softmax_status();
    return mt_test_summary("test_activation");
}
