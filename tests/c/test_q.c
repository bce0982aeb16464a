/* test_q.c - integer-only training kernels (mt_q.h): hand-worked cases, rounding
 * rules, PRNG determinism and status codes. The random-shape comparisons with the
 * numpy integer reference live in tests/test_qtrain.py. */
#include <string.h>
#include "mt/mt.h"
#include "mt_test.h"

static void test_helpers(void)
{
    uint32_t a = 1, b = 1;
    MT_EXPECT(mt_q_rand(&a) == 270369u && a == 270369u);
    for (int i = 0; i < 1000; i++)
        mt_q_rand(&a);
    for (int i = 0; i < 1001; i++)
        mt_q_rand(&b);
    MT_EXPECT(a == b && a != 0);                  /* same seed, same stream */

    MT_EXPECT(mt_q_bitlen(0) == 0 && mt_q_bitlen(1) == 1 && mt_q_bitlen(127) == 7);
    MT_EXPECT(mt_q_bitlen(128) == 8 && mt_q_bitlen(0xFFFFFFFFu) == 32);
    /* ties toward +infinity */
    MT_EXPECT(mt_q_shift_round(3, 1) == 2 && mt_q_shift_round(-3, 1) == -1);
    MT_EXPECT(mt_q_shift_round(6, 2) == 2 && mt_q_shift_round(-6, 2) == -1);
    MT_EXPECT(mt_q_shift_round(5, 2) == 1 && mt_q_shift_round(-7, 2) == -2);
    MT_EXPECT(mt_q_shift_round(1, -3) == 8 && mt_q_shift_round(-1, -3) == -8);
    MT_EXPECT(mt_q_shift_round(1, -31) == INT32_MAX && mt_q_shift_round(-1, -40) == INT32_MIN);
    MT_EXPECT(mt_q_shift_round(-1, 100) == 0 && mt_q_shift_round(INT64_MIN, 0) == INT32_MIN);
    MT_EXPECT(mt_q_sat_add(INT32_MAX, 1) == INT32_MAX && mt_q_sat_add(INT32_MIN, -1) == INT32_MIN);

    /* requantize: max 1000 -> bitlen 10 -> s = 3 */
    const int32_t v[3] = {1000, -3, 5};
    int8_t q[3];
    int32_t e = 0;
    MT_EXPECT_STATUS(mt_q_requantize(3, v, -10, q, &e), MT_OK);
    MT_EXPECT(q[0] == 125 && q[1] == 0 && q[2] == 1 && e == -7);
    /* 255 -> s = 1 -> 127.5 rounds to 128 -> clamped to 127 */
    const int32_t w[2] = {255, -255};
    MT_EXPECT_STATUS(mt_q_refresh_weights(2, w, 0, q, &e), MT_OK);
    MT_EXPECT(q[0] == 127 && q[1] == -127 && e == 1);
    MT_EXPECT_STATUS(mt_q_requantize(3, v, 5000, q, &e), MT_ERR_RANGE);
    MT_EXPECT_STATUS(mt_q_requantize(0, v, 0, q, &e), MT_ERR_SHAPE);
    MT_EXPECT_STATUS(mt_q_requantize(3, NULL, 0, q, &e), MT_ERR_NULL);
}

static void test_linear(void)
{
    int32_t scratch[8];
    const mt_q_ctx ctx = {scratch, sizeof scratch}, tiny = {scratch, 4};
    /* x = [1,2,3], W = [[1,0,-1],[2,1,0]], b = [4,-8] at 2^-2 -> [1,-2]: acc = [-1, 2] */
    const mt_dims xd = {1, 1, 1, 3}, wd = {2, 1, 1, 3}, yd = {1, 1, 1, 2};
    const int8_t x[3] = {1, 2, 3}, w[6] = {1, 0, -1, 2, 1, 0};
    const int32_t b[2] = {4, -8};
    int8_t y[2];
    int32_t ey = 99;
    MT_EXPECT_STATUS(mt_linear_q(&ctx, 0, &xd, x, 0, &wd, w, 0, b, -2, &yd, y, &ey), MT_OK);
    MT_EXPECT(y[0] == -1 && y[1] == 2 && ey == 0);
    MT_EXPECT_STATUS(mt_linear_q(&ctx, 1, &xd, x, 0, &wd, w, 0, b, -2, &yd, y, &ey), MT_OK);
    MT_EXPECT(y[0] == 0 && y[1] == 2 && ey == 0);
    /* 100*100 + 100*100 = 20000: bitlen 15, s = 8, 78.125 -> 78 at 2^(-3 - 4 + 8) */
    const mt_dims x2d = {1, 1, 1, 2}, w2d = {1, 1, 1, 2}, y2d = {1, 1, 1, 1};
    const int8_t x2[2] = {100, 100}, w2[2] = {100, 100};
    MT_EXPECT_STATUS(mt_linear_q(&ctx, 0, &x2d, x2, -3, &w2d, w2, -4, NULL, 0, &y2d, y, &ey), MT_OK);
    MT_EXPECT(y[0] == 78 && ey == 1);

    /* backward: dy = [1,2] -> dx = [5,2,-1] at 2^(edy + ew); dW += [[1,2,3],[2,4,6]] */
    const int8_t dy[2] = {1, 2};
    int8_t dx[3];
    int32_t edx = 0;
    MT_EXPECT_STATUS(mt_linear_q_backward(&ctx, &xd, &wd, w, -1, &yd, dy, -5, dx, &edx), MT_OK);
    MT_EXPECT(dx[0] == 5 && dx[1] == 2 && dx[2] == -1 && edx == -6);
    int32_t dw[6] = {1, 1, 1, 1, 1, INT32_MAX}, db[2] = {10, 20};
    MT_EXPECT_STATUS(mt_linear_q_backward_params(&xd, x, &wd, &yd, dy, 0, 2, dw, db), MT_OK);
    MT_EXPECT(dw[0] == 2 && dw[1] == 3 && dw[2] == 4 && dw[3] == 3 && dw[4] == 5);
    MT_EXPECT(dw[5] == INT32_MAX && db[0] == 11 && db[1] == 22);   /* saturating += */
    int32_t row[3] = {0, 0, 0};
    MT_EXPECT_STATUS(mt_linear_q_backward_params(&xd, x, &wd, &yd, dy, 1, 2, row, NULL), MT_OK);
    MT_EXPECT(row[0] == 2 && row[1] == 4 && row[2] == 6);

    /* status codes */
    MT_EXPECT_STATUS(mt_linear_q(&tiny, 0, &xd, x, 0, &wd, w, 0, b, 0, &yd, y, &ey), MT_ERR_ARENA);
    MT_EXPECT_STATUS(mt_linear_q(NULL, 0, &xd, x, 0, &wd, w, 0, b, 0, &yd, y, &ey), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_linear_q(&ctx, 0, &xd, x, 0, &wd, w, 0, b, 0, &xd, y, &ey), MT_ERR_SHAPE);
    MT_EXPECT_STATUS(mt_linear_q(&ctx, 0, &xd, x, -5000, &wd, w, 0, b, 0, &yd, y, &ey), MT_ERR_RANGE);
    MT_EXPECT_STATUS(mt_linear_q_backward_params(&xd, x, &wd, &yd, dy, 2, 1, dw, db), MT_ERR_RANGE);
    MT_EXPECT_STATUS(mt_linear_q_backward_params(&xd, NULL, &wd, &yd, dy, 0, 2, dw, db), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_linear_q_backward_params(&xd, NULL, &wd, &yd, dy, 0, 2, NULL, db), MT_OK);
}

static void test_conv_pool_relu(void)
{
    int32_t scratch[16];
    const mt_q_ctx ctx = {scratch, sizeof scratch};
    /* 1x3x3x1 input, 2x2 filter of ones, stride 1: each output sums a 2x2 patch */
    const mt_conv_params p = {1, 1, 0, 0, 0, 0, 1, 1, 1};
    const mt_dims xd = {1, 3, 3, 1}, fd = {1, 2, 2, 1}, yd = {1, 2, 2, 1};
    const int8_t x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, f[4] = {1, 1, 1, 1};
    int8_t y[4], dx[9];
    int32_t ey, edx;
    MT_EXPECT_STATUS(mt_conv2d_q(&ctx, &p, 0, &xd, x, 0, &fd, f, 0, NULL, 0, &yd, y, &ey), MT_OK);
    MT_EXPECT(y[0] == 12 && y[1] == 16 && y[2] == 24 && y[3] == 28 && ey == 0);
    /* dx of dy = ones: how many windows cover each input: 1 2 1 / 2 4 2 / 1 2 1 */
    const int8_t dy[4] = {1, 1, 1, 1};
    MT_EXPECT_STATUS(mt_conv2d_q_backward(&ctx, &p, &xd, &fd, f, 3, &yd, dy, -4, dx, &edx), MT_OK);
    MT_EXPECT(dx[0] == 1 && dx[1] == 2 && dx[4] == 4 && dx[8] == 1 && edx == -1);
    int32_t dw[4] = {0, 0, 0, 0}, db[1] = {0};
    MT_EXPECT_STATUS(mt_conv2d_q_backward_params(&p, &xd, x, &fd, &yd, dy, 0, 1, dw, db), MT_OK);
    MT_EXPECT(dw[0] == 12 && dw[1] == 16 && dw[2] == 24 && dw[3] == 28 && db[0] == 4);
    const mt_conv_params bad = {0, 1, 0, 0, 0, 0, 1, 1, 1};
    MT_EXPECT_STATUS(mt_conv2d_q(&ctx, &bad, 0, &xd, x, 0, &fd, f, 0, NULL, 0, &yd, y, &ey), MT_ERR_ARG);

    /* max pool 2x2 on 2x2 with a tie: the first maximum (row-major) gets dy */
    const mt_pool_params pp = {2, 2, 2, 2, 0, 0, 0, 0, 0, 1};
    const mt_dims pd = {1, 2, 2, 1}, od = {1, 1, 1, 1};
    const int8_t px[4] = {3, 7, 7, -1}, pdy[1] = {-5};
    int8_t py[1], pdx[4];
    MT_EXPECT_STATUS(mt_maxpool2d_q(&pp, &pd, px, &od, py), MT_OK);
    MT_EXPECT(py[0] == 7);
    MT_EXPECT_STATUS(mt_maxpool2d_q_backward(&pp, &pd, px, &od, pdy, pdx), MT_OK);
    MT_EXPECT(pdx[0] == 0 && pdx[1] == -5 && pdx[2] == 0 && pdx[3] == 0);
    const mt_pool_params overlap = {2, 2, 1, 1, 0, 0, 0, 0, 0, 1};
    MT_EXPECT_STATUS(mt_maxpool2d_q_backward(&overlap, &pd, px, &od, pdy, pdx), MT_ERR_UNSUPPORTED);

    int8_t r[4];
    MT_EXPECT_STATUS(mt_relu_q(4, (const int8_t[]){-3, 0, 5, -127}, r), MT_OK);
    MT_EXPECT(r[0] == 0 && r[1] == 0 && r[2] == 5 && r[3] == 0);
    MT_EXPECT_STATUS(mt_relu_q_backward(4, r, (const int8_t[]){9, 9, 9, 9}, r), MT_OK);
    MT_EXPECT(r[0] == 0 && r[1] == 0 && r[2] == 9 && r[3] == 0);
}

static void test_losses(void)
{
    /* two equal logits, label 0: p = [1/2, 1/2], loss = ln 2, dz = [-1/2, 1/2] */
    const int8_t z[2] = {0, 0};
    const int32_t label[1] = {0}, bad_label[1] = {2};
    int32_t loss = 0, edz = 0;
    int8_t dz[2];
    MT_EXPECT_STATUS(mt_cross_entropy_q(1, 2, z, 0, label, &loss, dz, &edz), MT_OK);
    MT_EXPECT(loss == 45426);                      /* round(ln 2 * 2^16) */
    MT_EXPECT(dz[0] == -64 && dz[1] == 64 && edz == -7);
    MT_EXPECT_STATUS(mt_cross_entropy_q(1, 2, z, 0, label, &loss, NULL, NULL), MT_OK);
    MT_EXPECT_STATUS(mt_cross_entropy_q(1, 2, z, 0, bad_label, &loss, dz, &edz), MT_ERR_RANGE);
    MT_EXPECT_STATUS(mt_cross_entropy_q(1, 2000, z, 0, label, &loss, dz, &edz), MT_ERR_SHAPE);

    /* MSE: y = 2, t = 0 -> loss 4, dL/dy = 4 = 64 * 2^-4 */
    const int8_t y[1] = {2}, t[1] = {0};
    int8_t dy[1];
    int32_t edy = 0;
    MT_EXPECT_STATUS(mt_mse_loss_q(1, y, 0, t, 0, &loss, dy, &edy), MT_OK);
    MT_EXPECT(loss == 4 * 65536 && dy[0] == 64 && edy == -4);
    /* y = 1 * 2^-1, t = 1 * 2^-2: diff 1/4, loss 1/16, grad 1/2 */
    const int8_t one[1] = {1};
    MT_EXPECT_STATUS(mt_mse_loss_q(1, one, -1, one, -2, &loss, dy, &edy), MT_OK);
    MT_EXPECT(loss == 4096 && dy[0] == 64 && edy == -7);
    MT_EXPECT_STATUS(mt_mse_loss_q(0, y, 0, t, 0, &loss, dy, &edy), MT_ERR_SHAPE);
}

static void test_sgd(void)
{
    const mt_sgd_q_params exact = {1, 0, 0, 0}, half = {1, 1, 0, 0}, bad = {70000, 0, 0, 0};
    int32_t m[2] = {100, -100};
    const int32_t g[2] = {3, -3};
    uint32_t s = 7;
    /* t = 0: exact, no PRNG draw */
    MT_EXPECT_STATUS(mt_sgd_update_q(&exact, 2, m, 0, g, 0, NULL, &s), MT_OK);
    MT_EXPECT(m[0] == 97 && m[1] == -97 && s == 7);
    /* lr = 1/2: delta = 1.5 rounds stochastically to 1 or 2, the same way every run */
    int32_t m1[2] = {100, -100}, m2[2] = {100, -100};
    uint32_t s1 = 12345, s2 = 12345;
    MT_EXPECT_STATUS(mt_sgd_update_q(&half, 2, m1, 0, g, 0, NULL, &s1), MT_OK);
    MT_EXPECT_STATUS(mt_sgd_update_q(&half, 2, m2, 0, g, 0, NULL, &s2), MT_OK);
    MT_EXPECT(m1[0] == m2[0] && m1[1] == m2[1] && s1 == s2 && s1 != 12345);
    MT_EXPECT((m1[0] == 98 || m1[0] == 99) && (m1[1] == -98 || m1[1] == -99));
    /* saturation instead of wrap-around */
    int32_t top[1] = {INT32_MAX - 1};
    const int32_t neg[1] = {-1000};
    MT_EXPECT_STATUS(mt_sgd_update_q(&exact, 1, top, 0, neg, 0, NULL, &s), MT_OK);
    MT_EXPECT(top[0] == INT32_MAX);
    uint32_t zero = 0;
    MT_EXPECT_STATUS(mt_sgd_update_q(&exact, 1, top, 0, neg, 0, NULL, &zero), MT_ERR_ARG);
    MT_EXPECT_STATUS(mt_sgd_update_q(&bad, 1, top, 0, neg, 0, NULL, &s), MT_ERR_ARG);
    MT_EXPECT_STATUS(mt_sgd_update_q(&exact, 1, top, 0, NULL, 0, NULL, &s), MT_ERR_NULL);

    /* momentum 1/2 (exact decays on even velocities): g = 4 twice, lr = 1:
     * v = 4, p = -4; v = 2 + 4 = 6, p = -10  (torch: buf = 4, 6; p -= buf) */
    const mt_sgd_q_params mom = {1, 0, 1, 1}, mom_bad = {1, 0, 2, 1};
    int32_t p1[1] = {0}, v1[1] = {0};
    const int32_t g4[1] = {4};
    uint32_t s3 = 5;
    MT_EXPECT_STATUS(mt_sgd_update_q(&mom, 1, p1, 0, g4, 0, v1, &s3), MT_OK);
    MT_EXPECT(v1[0] == 4 && p1[0] == -4);
    MT_EXPECT_STATUS(mt_sgd_update_q(&mom, 1, p1, 0, g4, 0, v1, &s3), MT_OK);
    MT_EXPECT(v1[0] == 6 && p1[0] == -10);
    MT_EXPECT_STATUS(mt_sgd_update_q(&mom, 1, p1, 0, g4, 0, NULL, &s3), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_sgd_update_q(&mom_bad, 1, p1, 0, g4, 0, v1, &s3), MT_ERR_ARG);  /* mu = 1 */
}

/* The 2-4-4-1 MLP (Linear-ReLU-Linear-ReLU-Linear, MSE) trained on OR by the
 * engine, integer-only from an integer random init; then the same run again from
 * the same seed must give the same bits. Returns the steps to 4/4 correct (-1: never). */
static int train_or(uint32_t seed, int32_t *w_out)
{
    enum { B = 4 };
    static int32_t w1[8], b1[4], w2[16], b2[4], w3[4], b3[1];
    int8_t q1[8], q2[16], q3[4];
    uint32_t init = seed;
    int32_t *masters[6] = {w1, b1, w2, b2, w3, b3};
    const int sizes[6] = {8, 4, 16, 4, 4, 1};
    for (int m = 0; m < 6; m++)          /* uniform in [-2^23, 2^23) at 2^-24: +-0.5 */
        for (int k = 0; k < sizes[m]; k++)
            masters[m][k] = (int32_t)(mt_q_rand(&init) >> 8) - (1 << 23);
    const mt_q_layer layers[3] = {
        {MT_QOP_LINEAR, 1, {0}, {0}, {4, 1, 1, 2}, w1, -24, b1, -24, NULL, NULL, q1, 1},
        {MT_QOP_LINEAR, 1, {0}, {0}, {4, 1, 1, 4}, w2, -24, b2, -24, NULL, NULL, q2, 1},
        {MT_QOP_LINEAR, 0, {0}, {0}, {1, 1, 1, 4}, w3, -24, b3, -24, NULL, NULL, q3, 1}};
    const mt_dims dims[4] = {{B, 1, 1, 2}, {B, 1, 1, 4}, {B, 1, 1, 4}, {B, 1, 1, 1}};
    int8_t x[B * 2] = {0, 0, 0, 64, 64, 0, 64, 64}, h1[B * 4], h2[B * 4], y[B];
    int8_t *const act[4] = {x, h1, h2, y};
    const int8_t target[B] = {0, 64, 64, 64};          /* OR at 2^-6 */
    int32_t act_exp[4] = {-6, 0, 0, 0}, wq_exp[3], scratch[32];
    int8_t g0[16], g1[16];
    uint32_t rng = 2463534242u;
    const mt_q_net net = {layers, 3, dims, act, act_exp, wq_exp, {g0, g1}, 16, scratch,
                          sizeof scratch, 1, {52429, 19, 0, 0}, &rng};   /* lr ~ 0.1 */
    MT_EXPECT(mt_q_net_scratch_size(&net) == B * 4 * 4);   /* the 4x4 activations */
    MT_EXPECT_STATUS(mt_q_net_refresh(&net), MT_OK);
    for (int step = 0; step < 2000; step++) {
        MT_EXPECT_STATUS(mt_q_net_forward(&net), MT_OK);
        int ok = 1;
        for (int n = 0; n < B; n++) {
            /* y > 0.5  <=>  y * 2^e > 2^-1 */
            const int64_t v = y[n];
            const int32_t e = act_exp[3];
            const int above = e + 1 >= 0 ? (v << (e + 1)) > 1 : v > ((int64_t)1 << -(e + 1));
            ok &= above == (target[n] != 0);
        }
        if (ok) {
            memcpy(w_out, w3, sizeof w3);
            return step;
        }
        int32_t loss;
        mt_status st = mt_q_net_train_step(&net, target, -6, &loss);
        if (st != MT_OK) {
            MT_EXPECT_STATUS(st, MT_OK);
            return -1;
        }
    }
    return -1;
}

static void test_engine(void)
{
    int32_t wa[4], wb[4];
    const int steps = train_or(7u, wa);
    MT_EXPECT(steps >= 0);
    MT_EXPECT(train_or(7u, wb) == steps && memcmp(wa, wb, sizeof wa) == 0);
    printf("engine: OR 4/4 after %d steps\n", steps);

    /* status codes: scratch too small, no trainable layer, bad op */
    int32_t w[2] = {1, 1}, scratch[1];
    int8_t wq[2], x[2] = {1, 1}, y[1], g0[2], g1[2];
    int8_t *const act[2] = {x, y};
    int32_t act_exp[2] = {0, 0}, wq_exp[1], loss;
    uint32_t rng = 1;
    mt_q_layer layer = {MT_QOP_LINEAR, 0, {0}, {0}, {1, 1, 1, 2}, w, 0, NULL, 0, NULL, NULL, wq, 1};
    const mt_dims dims[2] = {{1, 1, 1, 2}, {1, 1, 1, 1}};
    mt_q_net net = {&layer, 1, dims, act, act_exp, wq_exp, {g0, g1}, 2, scratch, 4, 1, {1, 1, 0, 0}, &rng};
    MT_EXPECT_STATUS(mt_q_net_refresh(&net), MT_ERR_ARENA);       /* needs 3 words */
    int32_t big[4];
    net.scratch = big;
    net.scratch_size = sizeof big;
    MT_EXPECT_STATUS(mt_q_net_refresh(&net), MT_OK);
    const int8_t t[1] = {0};
    MT_EXPECT_STATUS(mt_q_net_train_step(&net, t, 0, &loss), MT_OK);
    net.sgd.momentum_multiplier = 1;                             /* mu = 1/2 needs velocity */
    net.sgd.momentum_shift = 1;
    MT_EXPECT_STATUS(mt_q_net_train_step(&net, t, 0, &loss), MT_ERR_NULL);
    int32_t vel[2] = {0, 0};
    layer.weight_velocity = vel;
    MT_EXPECT_STATUS(mt_q_net_train_step(&net, t, 0, &loss), MT_OK);
    net.sgd.momentum_multiplier = 0;
    layer.trainable = 0;
    MT_EXPECT_STATUS(mt_q_net_train_step(&net, t, 0, &loss), MT_ERR_ARG);
    layer.op = 9;
    MT_EXPECT_STATUS(mt_q_net_forward(&net), MT_ERR_ARG);
}

int main(void)
{
    test_engine();
    test_helpers();
    test_linear();
    test_conv_pool_relu();
    test_losses();
    test_sgd();
    return mt_test_summary("test_q");
}
