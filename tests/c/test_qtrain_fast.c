/* test_qtrain_fast.c - the fast q-training kernels equal their reference twins bit for
 * bit over a grid of shapes (C = 1, padding, stride 2, batch 2, odd sizes, non-square
 * kernels), and the fused SGD + refresh equals mt_sgd_update_q + the refresh rule.
 * tests/test_qtrain_fast.py also builds and runs this file on the emulated Cortex-M4,
 * M7 and M33, where the assembly paths (q_dot.h, sgd_q.c, conv2d_q_fast.c) are taken. */
#include <stdint.h>
#include <string.h>
#include "mt_test.h"
#include "../../runtime_c/src/qtrain/q_internal.h"

#define BIG 8192

static uint32_t seed = 2463534242u;

static uint32_t next(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 17;
    seed ^= seed << 5;
    return seed;
}

/* int8 in [-127, 127], zero with probability zeros/8 */
static void fill_s8(int8_t *v, int32_t n, int zeros)
{
    for (int32_t i = 0; i < n; i++)
        v[i] = (int32_t)(next() % 8) < zeros ? 0 : (int8_t)((int32_t)(next() % 255) - 127);
}

static int same32(const int32_t *a, const int32_t *b, int32_t n)
{
    return memcmp(a, b, (size_t)n * 4) == 0;
}

static int8_t x[BIG], w[BIG], dy[BIG], y_fast[BIG], y_ref[BIG];
static int32_t acc_fast[BIG], acc_ref[BIG], bias[64], db_fast[64], db_ref[64];

static void conv_case(int32_t N, int32_t H, int32_t W, int32_t C, int32_t O, int32_t KH,
                      int32_t KW, int32_t sh, int32_t sw, int32_t pt, int32_t pl, int32_t pb,
                      int32_t pr)
{
    const mt_conv_params p = {sh, sw, pt, pl, pb, pr, 1, 1, 1};
    const int32_t OH = mt_conv_out_size(H, KH, sh, pt + pb, 1), OW = mt_conv_out_size(W, KW, sw, pl + pr, 1);
    if (OH < 1 || OW < 1)
        return;
    const mt_dims xd = {N, H, W, C}, fd = {O, KH, KW, C}, yd = {N, OH, OW, O};
    const int32_t nx = N * H * W * C, nw = O * KH * KW * C, ny = N * OH * OW * O;
    if (nx > BIG || nw > BIG || ny > BIG || O > 64)
        return;
    MT_EXPECT(mt_qi_conv2d_fast_ok(&p));
    fill_s8(x, nx, 2);
    fill_s8(w, nw, 1);
    fill_s8(dy, ny, 5);
    for (int32_t o = 0; o < O; o++)
        bias[o] = (int32_t)(next() % 200001) - 100000;
    for (int relu = 0; relu <= 1; relu++)
        for (int32_t bshift = -3; bshift <= 9; bshift += 6) {
            const int32_t *b = bshift == 3 ? NULL : bias;
            const int32_t s1 = mt_qi_conv2d_acc_fast(&p, relu, &xd, x, &fd, w, b, bshift, &yd, acc_fast);
            const int32_t s2 = mt_qi_conv2d_acc_ref(&p, relu, &xd, x, &fd, w, b, bshift, &yd, acc_ref);
            MT_EXPECT(s1 == s2 && same32(acc_fast, acc_ref, ny));
        }
    /* dx */
    const int32_t s1 = mt_qi_conv2d_dx_fast(&p, &xd, &fd, w, &yd, dy, acc_fast);
    const int32_t s2 = mt_qi_conv2d_dx_ref(&p, &xd, &fd, w, &yd, dy, acc_ref);
    MT_EXPECT(s1 == s2 && same32(acc_fast, acc_ref, nx));
    /* dW / db of a block of output channels vs the public accumulating kernel */
    const int32_t o0 = O > 2 ? 1 : 0, o1 = O;
    const int32_t nb = (o1 - o0) * KH * KW * C;
    memset(acc_ref, 0, (size_t)nb * 4);
    memset(db_ref, 0, sizeof db_ref);
    for (int32_t i = 0; i < nb; i++)
        acc_fast[i] = 12345;                  /* the fast kernel overwrites */
    MT_EXPECT_STATUS(mt_conv2d_q_backward_params(&p, &xd, x, &fd, &yd, dy, o0, o1, acc_ref, db_ref),
                     MT_OK);
    mt_qi_conv2d_dw_fast(&p, &xd, x, &fd, &yd, dy, o0, o1, acc_fast, db_fast);
    MT_EXPECT(same32(acc_fast, acc_ref, nb) && same32(db_fast, db_ref, o1 - o0));
    /* the public forward and backward (fast dispatch + requantize) vs ref + q_to_s8 */
    int32_t ey = 0;
    const mt_q_ctx ctx = {acc_fast, (int32_t)sizeof acc_fast};
    MT_EXPECT_STATUS(mt_conv2d_q(&ctx, &p, 1, &xd, x, -7, &fd, w, -6, bias, -20, &yd, y_fast, &ey),
                     MT_OK);
    const int32_t s3 = mt_qi_conv2d_acc_ref(&p, 1, &xd, x, &fd, w, bias, -13 + 20, &yd, acc_ref);
    for (int32_t i = 0; i < ny; i++)
        y_ref[i] = q_to_s8(acc_ref[i], s3);
    MT_EXPECT(ey == -13 + s3 && memcmp(y_fast, y_ref, (size_t)ny) == 0);
}

static void linear_case(int32_t N, int32_t K, int32_t O)
{
    const mt_dims xd = {N, 1, 1, K}, wd = {O, 1, 1, K}, yd = {N, 1, 1, O};
    fill_s8(x, N * K, 3);
    fill_s8(dy, N * O, 4);
    const int32_t o0 = O > 3 ? 2 : 0, nb = (O - o0) * K;
    memset(acc_ref, 0, (size_t)nb * 4);
    memset(db_ref, 0, sizeof db_ref);
    MT_EXPECT_STATUS(mt_linear_q_backward_params(&xd, x, &wd, &yd, dy, o0, O, acc_ref, db_ref), MT_OK);
    for (int32_t i = 0; i < nb; i++)
        acc_fast[i] = -1;
    mt_qi_linear_dw_fast(&xd, x, &wd, &yd, dy, o0, O, acc_fast, db_fast);
    MT_EXPECT(same32(acc_fast, acc_ref, nb) && same32(db_fast, db_ref, O - o0));
}

static void pool_case(int32_t N, int32_t H, int32_t W, int32_t C, int32_t k, int32_t s, int32_t pad,
                      int32_t ceil_mode)
{
    const mt_pool_params p = {k, k, s, s, pad, pad, pad, pad, ceil_mode, 0};
    const int32_t OH = mt_pool_out_size(H, k, s, pad, pad, ceil_mode);
    const int32_t OW = mt_pool_out_size(W, k, s, pad, pad, ceil_mode);
    const mt_dims xd = {N, H, W, C}, yd = {N, OH, OW, C};
    fill_s8(x, N * H * W * C, 1);
    MT_EXPECT_STATUS(mt_maxpool2d_q(&p, &xd, x, &yd, y_fast), MT_OK);
    MT_EXPECT_STATUS(mt_qi_maxpool2d_ref(&p, &xd, x, &yd, y_ref), MT_OK);
    MT_EXPECT(memcmp(y_fast, y_ref, (size_t)(N * OH * OW * C)) == 0);
    if (s < k)
        return;                               /* the backward needs disjoint windows */
    fill_s8(dy, N * OH * OW * C, 2);
    MT_EXPECT_STATUS(mt_maxpool2d_q_backward(&p, &xd, x, &yd, dy, y_fast), MT_OK);
    MT_EXPECT_STATUS(mt_qi_maxpool2d_backward_ref(&p, &xd, x, &yd, dy, y_ref), MT_OK);
    MT_EXPECT(memcmp(y_fast, y_ref, (size_t)(N * H * W * C)) == 0);
}

static void requantize_case(int32_t magnitude_bits)
{
    const int32_t n = 999;
    for (int32_t i = 0; i < n; i++) {
        const int32_t v = (int32_t)next();
        acc_ref[i] = magnitude_bits >= 32 ? v : v / (1 << (31 - magnitude_bits));
    }
    if (magnitude_bits >= 32) {
        acc_ref[0] = INT32_MIN;
        acc_ref[1] = INT32_MAX;
    }
    int32_t e = 0;
    MT_EXPECT_STATUS(mt_q_requantize(n, acc_ref, 3, y_fast, &e), MT_OK);
    uint64_t max_abs = 0;
    for (int32_t i = 0; i < n; i++)
        max_abs = (uint64_t)q_abs64(acc_ref[i]) > max_abs ? (uint64_t)q_abs64(acc_ref[i]) : max_abs;
    const int32_t s = q_dyn_shift(max_abs);
    int ok = e == 3 + s;
    for (int32_t i = 0; i < n; i++)
        ok &= y_fast[i] == q_to_s8(acc_ref[i], s);
    MT_EXPECT(ok);
}

/* The copies written by a fused update (mt_qi_sgd_update_refresh / _linear_refresh)
 * against the refresh rule, for the changed elements (grad != 0) of master m (before:
 * m0): *bits is the exact OR of their |m| (C loop) or 0 (assembly loop), unless bit 31
 * says that some changed master saturated or rounds outside [-127, 127] at s_old;
 * without it every changed copy in range is q_to_s8(m, s_old), every other copy is
 * untouched (99), and a changed master out of range shows in bits. */
static int copies_ok(const int32_t *m, const int32_t *grad, const int8_t *q, int32_t n,
                     int32_t s_old, uint32_t bits)
{
    uint32_t want = 0;
    int flagged = 0, out = 0, ok = 1;
    for (int32_t i = 0; i < n; i++) {
        if (grad[i] == 0) {
            ok &= q[i] == 99;
            continue;
        }
        want |= q_abs_u32(m[i]);
        const int64_t r = q_round_shift(m[i], s_old);
        flagged |= r < -127 || r > 127 || m[i] == INT32_MAX || m[i] == INT32_MIN;
        out |= q_abs_u32(m[i]) >= (1u << (s_old + 7));
        if (!(bits & 0x80000000u) && q_abs_u32(m[i]) < (1u << (s_old + 7)))
            ok &= q[i] == q_to_s8(m[i], s_old);
    }
    if (bits & 0x80000000u)
        return ok && flagged;
    return ok && (bits & ~want) == 0 && (!out || q_dyn_shift(bits) > s_old);
}

/* mt_qi_sgd_update_refresh == mt_sgd_update_q, and the changed copies at s_old;
 * g_bits = grad_bits (<= 15: the assembly loop on DSP cores when 1 <= -t <= 16). */
static void sgd_case(int32_t eg, int32_t grad_bits, int32_t zeros, int32_t s_old, int saturate)
{
    static int32_t m1[999], m2[999], g[999];
    static int8_t q[999];
    const int32_t n = 999, em = -25;
    const mt_sgd_q_params p = {41943, 22, 0, 0};
    for (int32_t i = 0; i < n; i++) {
        m1[i] = m2[i] = (int32_t)next() / 128;
        g[i] = (int32_t)(next() % 8) < zeros ? 0 : (int32_t)next() / (1 << (31 - grad_bits));
        q[i] = 99;
    }
    if (saturate) {
        m1[5] = m2[5] = INT32_MAX - 3;
        g[5] = -(1 << (grad_bits - 1));       /* saturates upward */
    } else {                                  /* round to +-128 at s_old (near 2^(s+7)) */
        m1[7] = m2[7] = (1 << (s_old + 7)) - (1 << (s_old - 8));
        m1[8] = m2[8] = -m1[7];
        g[7] = g[8] = 1;
    }
    uint32_t r1 = 12345, r2 = 12345, bits = 0;
    MT_EXPECT_STATUS(mt_sgd_update_q(&p, n, m1, em, g, eg, NULL, &r1), MT_OK);
    MT_EXPECT_STATUS(mt_qi_sgd_update_refresh(&p, n, m2, em, g, eg, &r2, q, s_old,
                                              grad_bits, &bits), MT_OK);
    MT_EXPECT(r1 == r2 && same32(m1, m2, n));
    MT_EXPECT(copies_ok(m2, g, q, n, s_old, bits));
}

/* mt_qi_sgd_linear_refresh (batch 1, rows x K) == dW = dy x^T + mt_sgd_update_q, or
 * MT_ERR_UNSUPPORTED with nothing changed (no DSP, or -t outside [1, 16]). */
static void linear_sgd_case(int32_t rows, int32_t K, int32_t eg, int32_t s_old)
{
    static int32_t m1[4096], m2[4096], g[4096];
    static int8_t q[4096];
    const int32_t em = -25, n = rows * K;
    const mt_sgd_q_params p = {41943, 22, 0, 0};
    fill_s8(x, K, 3);
    fill_s8(dy, rows, 4);
    for (int32_t o = 0; o < rows; o++)
        for (int32_t k = 0; k < K; k++) {
            const int32_t i = o * K + k;
            m1[i] = m2[i] = (int32_t)next() / 128;
            g[i] = dy[o] * x[k];
            q[i] = 99;
        }
    uint32_t r1 = 777, r2 = 777, bits = 0;
    const mt_status st = mt_qi_sgd_linear_refresh(&p, rows, K, x, dy, m2, em, eg, &r2, q,
                                                  s_old, &bits);
    if (st == MT_ERR_UNSUPPORTED) {
        MT_EXPECT(r2 == 777 && same32(m1, m2, n) && bits == 0);
        return;
    }
    MT_EXPECT_STATUS(st, MT_OK);
    MT_EXPECT_STATUS(mt_sgd_update_q(&p, n, m1, em, g, eg, NULL, &r1), MT_OK);
    MT_EXPECT(r1 == r2 && same32(m1, m2, n));
    MT_EXPECT(copies_ok(m2, g, q, n, s_old, bits));
}

/* ReLU backward (word path on DSP cores), separate and in place, vs the plain rule. */
static void relu_case(int32_t n)
{
    fill_s8(x, n, 2);
    fill_s8(dy, n, 2);
    for (int32_t i = 0; i < n; i++)
        y_ref[i] = x[i] > 0 ? dy[i] : 0;
    MT_EXPECT_STATUS(mt_relu_q_backward(n, x, dy, y_fast), MT_OK);
    MT_EXPECT(memcmp(y_fast, y_ref, (size_t)n) == 0);
    MT_EXPECT_STATUS(mt_relu_q_backward(n, x + 1, dy + 1, dy + 1), MT_OK);   /* unaligned */
    for (int32_t i = 1; i < n; i++)
        y_ref[i] = x[i] > 0 ? y_ref[i] : 0;   /* (already masked: unchanged) */
    MT_EXPECT(memcmp(dy + 1, y_ref + 1, (size_t)(n - 1)) == 0);
}

int main(void)
{
    /* conv grid: C = 1, padding (asymmetric), stride 2, batch 2, odd sizes */
    const int32_t cs[] = {1, 3, 6}, os[] = {1, 4, 5};
    for (int32_t n = 1; n <= 2; n++)
        for (int32_t ci = 0; ci < 3; ci++)
            for (int32_t oi = 0; oi < 3; oi++)
                for (int32_t k = 1; k <= 5; k += 2)
                    for (int32_t st = 1; st <= 2; st++)
                        for (int32_t pad = 0; pad <= 2; pad++) {
                            conv_case(n, 7, 9, cs[ci], os[oi], k, k, st, st, pad, pad, pad, pad);
                            conv_case(n, 6, 5, cs[ci], os[oi], k, k == 1 ? 2 : k - 1, st, 3 - st,
                                      pad, 0, 0, pad);
                        }
    conv_case(1, 32, 32, 1, 6, 5, 5, 1, 1, 0, 0, 0, 0);     /* LeNet-5's conv1 */
    conv_case(2, 14, 14, 6, 16, 5, 5, 1, 1, 0, 0, 0, 0);    /* conv2, batch 2 */
    conv_case(1, 3, 3, 2, 3, 5, 5, 1, 1, 2, 2, 2, 2);       /* kernel larger than the input */
    conv_case(1, 4, 4, 2, 3, 3, 3, 1, 1, 4, 4, 4, 4);       /* windows all padding */
    conv_case(1, 9, 8, 12, 5, 5, 5, 1, 1, 2, 1, 0, 2);      /* K = 300: the row path */
    conv_case(2, 6, 7, 11, 6, 5, 5, 2, 2, 1, 1, 1, 1);      /* K = 275, stride 2, batch 2 */
    for (int32_t n = 1; n <= 3; n++) {
        linear_case(n, 1, 1);
        linear_case(n, 37, 9);
        linear_case(n, 400, 12);
    }
    for (int32_t k = 1; k <= 3; k++)
        for (int32_t pad = 0; 2 * pad <= k; pad++)
            for (int32_t cm = 0; cm <= 1; cm++) {
                pool_case(1, 7, 6, 3, k, k, pad, cm);
                pool_case(2, 8, 9, 1, k, 2, pad, cm);
                pool_case(2, 9, 8, 4, k, k + 1, pad, cm);
            }
    for (int32_t b = 1; b <= 32; b += 3)
        requantize_case(b);
    requantize_case(32);
    for (int32_t eg = -40; eg <= -4; eg += 4)      /* sh = -(eg + 3): 37 (pre > 0) down to 1 */
        for (int32_t gb = 4; gb <= 31; gb += 9)
            for (int32_t s_old = 16; s_old <= 18; s_old++)
                sgd_case(eg, gb, 3, s_old, s_old == 18);
    sgd_case(-20, 14, 0, 17, 1);
    sgd_case(-16, 15, 5, 18, 0);
    sgd_case(-14, 15, 2, 9, 0);
    for (int32_t eg = -22; eg <= -2; eg += 5)      /* sh = 19 .. -1 */
        for (int32_t s_old = 0; s_old <= 25; s_old += 5) {
            linear_sgd_case(7, 33, eg, s_old);
            linear_sgd_case(3, 400, eg, s_old);
        }
    for (int32_t n = 1; n <= 41; n += 8)
        relu_case(n);
    return mt_test_summary("test_qtrain_fast");
}
