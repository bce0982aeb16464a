/* test_s8.c - the int8 kernels (mt_s8.h): the rounding rule of mt_requantize at its
 * edges, hand-worked layer examples, the overflow limits, and every status code. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "mt/mt.h"
#include "mt_test.h"

#define HALF (INT32_C(1) << 30)   /* multiplier 2^30 = 0.5 in Q31 */

static void expect_s8(const int8_t *got, const int8_t *want, int count)
{
    for (int i = 0; i < count; i++)
        if (got[i] != want[i]) {
            mt_test_failed++;
            fprintf(stderr, "%s:%d: element %d is %d, expected %d\n", __FILE__, __LINE__,
                    i, got[i], want[i]);
            return;
        }
    mt_test_passed++;
}

static mt_conv_params conv_params(int32_t stride, int32_t pad, int32_t dilation,
                                  int32_t groups)
{
    mt_conv_params p = { stride, stride, pad, pad, pad, pad, dilation, dilation, groups };
    return p;
}

static mt_pool_params pool_params(int32_t kernel, int32_t stride, int32_t pad,
                                  int32_t ceil_mode, int32_t count_include_pad)
{
    mt_pool_params p = { kernel, kernel, stride, stride, pad, pad, pad, pad,
                         ceil_mode, count_include_pad };
    return p;
}

/* ---- mt_requantize -------------------------------------------------------------- */

static void test_requantize(void)
{
    /* x 0.5 (multiplier 2^30, shift 0) */
    MT_EXPECT(mt_requantize(100, HALF, 0) == 50);
    MT_EXPECT(mt_requantize(0, HALF, 0) == 0);
    /* ties go toward +infinity, for both signs */
    MT_EXPECT(mt_requantize(1, HALF, 0) == 1);      /*  0.5 ->  1 */
    MT_EXPECT(mt_requantize(3, HALF, 0) == 2);      /*  1.5 ->  2 */
    MT_EXPECT(mt_requantize(-1, HALF, 0) == 0);     /* -0.5 ->  0 */
    MT_EXPECT(mt_requantize(-3, HALF, 0) == -1);    /* -1.5 -> -1 */
    /* negative non-ties round to nearest (floor of x + 1/2, not truncation) */
    MT_EXPECT(mt_requantize(-7, HALF, -1) == -2);   /* -1.75 -> -2 */
    MT_EXPECT(mt_requantize(-5, HALF, -1) == -1);   /* -1.25 -> -1 */
    MT_EXPECT(mt_requantize(-6, HALF, -1) == -1);   /* -1.5  -> -1 */
    MT_EXPECT(mt_requantize(7, HALF, -1) == 2);     /*  1.75 ->  2 */
    /* a multiplier just below 2^31 is just below 1 */
    MT_EXPECT(mt_requantize(1000, INT32_MAX, 0) == 1000);
    MT_EXPECT(mt_requantize(-1000, INT32_MAX, 0) == -1000);
    /* positive shift = left */
    MT_EXPECT(mt_requantize(5, HALF, 1) == 5);
    MT_EXPECT(mt_requantize(1, HALF, 30) == (INT32_C(1) << 29));
    /* shift extremes: 30 saturates quickly, -31 divides by 2^62 */
    MT_EXPECT(mt_requantize(3, HALF, 30) == 3 * (INT32_C(1) << 29));
    MT_EXPECT(mt_requantize(4, HALF, 30) == INT32_MAX);    /* 2^31 saturates */
    MT_EXPECT(mt_requantize(-4, HALF, 30) == INT32_MIN);   /* -2^31 fits exactly */
    MT_EXPECT(mt_requantize(-5, HALF, 30) == INT32_MIN);   /* saturates */
    MT_EXPECT(mt_requantize(INT32_MAX, INT32_MAX, 30) == INT32_MAX);
    MT_EXPECT(mt_requantize(INT32_MIN, INT32_MAX, 30) == INT32_MIN);
    MT_EXPECT(mt_requantize(INT32_MAX, INT32_MAX, -31) == 1);    /* 1 - 2^-30 -> 1 */
    MT_EXPECT(mt_requantize(INT32_MIN, INT32_MAX, -31) == -1);   /* -(1 - 2^-31) -> -1 */
    MT_EXPECT(mt_requantize(INT32_MIN, HALF, -31) == 0);         /* -0.5 -> 0 (tie) */
    MT_EXPECT(mt_requantize(INT32_MIN, INT32_MAX, -30) == -2);
    /* INT32_MIN accumulator */
    MT_EXPECT(mt_requantize(INT32_MIN, HALF, 0) == -(INT32_C(1) << 30));
    MT_EXPECT(mt_requantize(INT32_MIN, INT32_MAX, 0) == INT32_MIN + 1);
    MT_EXPECT(mt_requantize(INT32_MIN, HALF, 1) == INT32_MIN);
    MT_EXPECT(mt_requantize(INT32_MIN, HALF, 2) == INT32_MIN);   /* saturates */
    /* multiplier 0 (a zero scale) gives 0 for every accumulator */
    MT_EXPECT(mt_requantize(INT32_MAX, 0, 30) == 0);
    MT_EXPECT(mt_requantize(INT32_MIN, 0, -31) == 0);
    /* outside the domain (rejected by the kernels): 0, and no undefined shift */
    MT_EXPECT(mt_requantize(100, -1, 0) == 0);
    MT_EXPECT(mt_requantize(100, HALF, 31) == 0);
    MT_EXPECT(mt_requantize(100, HALF, -32) == 0);
}

/* ---- conv2d ----------------------------------------------------------------------- */

static void test_conv2d_by_hand(void)
{
    /* The 3x3 image 1..9 stored with zero point 1 (input_offset -1): the real values
     * (in units of s_in) are 0..8. A 2x2 kernel of ones, x 0.5. */
    const int8_t x[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    const int8_t ones[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    const mt_dims xd = { 1, 3, 3, 1 };
    const int32_t half[4] = { HALF, HALF, HALF, HALF }, zero[4] = { 0, 0, 0, 0 };
    const mt_requant q = { half, zero };
    int8_t y[9];
    {
        /* window sums of 0..8: 8, 12, 20, 24 -> x 0.5 -> 4, 6, 10, 12 -> + 1 */
        const mt_conv_params p = conv_params(1, 0, 1, 1);
        const mt_s8_io io = { -1, 1, -128, 127 };
        const mt_dims wd = { 1, 2, 2, 1 }, yd = { 1, 2, 2, 1 };
        const int8_t want[4] = { 5, 7, 11, 13 };
        MT_EXPECT_STATUS(mt_conv2d_s8(&p, &io, &q, &xd, x, &wd, ones, NULL, &yd, y), MT_OK);
        expect_s8(y, want, 4);
        /* bias 4 (+2 after scaling) and the clamp [6, 12] */
        const int32_t bias = 4;
        const mt_s8_io io_act = { -1, 1, 6, 12 };
        const int8_t want_act[4] = { 7, 9, 12, 12 };
        MT_EXPECT_STATUS(mt_conv2d_s8(&p, &io_act, &q, &xd, x, &wd, ones, &bias, &yd, y), MT_OK);
        expect_s8(y, want_act, 4);
    }
    {
        /* 3x3 kernel, stride 2, padding 1: padding taps are the real 0 (not the
         * stored 0, which would be -1 here), so the same 2x2 sums come out. */
        const mt_conv_params p = conv_params(2, 1, 1, 1);
        const mt_s8_io io = { -1, 1, -128, 127 };
        const mt_dims wd = { 1, 3, 3, 1 }, yd = { 1, 2, 2, 1 };
        const int8_t want[4] = { 5, 7, 11, 13 };
        MT_EXPECT_STATUS(mt_conv2d_s8(&p, &io, &q, &xd, x, &wd, ones, NULL, &yd, y), MT_OK);
        expect_s8(y, want, 4);
    }
    {
        /* dilation 2 reads the corners 0, 2, 6, 8 with weights 1, 2, 3, -4:
         * 0 + 4 + 18 - 32 = -10, x 0.5 = -5, output_offset -3 -> -8 */
        const mt_conv_params p = conv_params(1, 0, 2, 1);
        const mt_s8_io io = { -1, -3, -128, 127 };
        const mt_dims wd = { 1, 2, 2, 1 }, yd = { 1, 1, 1, 1 };
        const int8_t w[4] = { 1, 2, 3, -4 };
        MT_EXPECT_STATUS(mt_conv2d_s8(&p, &io, &q, &xd, x, &wd, w, NULL, &yd, y), MT_OK);
        MT_EXPECT(y[0] == -8);
    }
    {
        /* depthwise with per-channel requantization: one pixel (a, b) = (10, -6),
         * input_offset 0; channel 0 x 2 with scale 0.5, channel 1 x 3 with scale 0.25 */
        const int8_t xc[2] = { 10, -6 }, w[2] = { 2, 3 };
        const int32_t mult[2] = { HALF, HALF }, shift[2] = { 0, -1 };
        const mt_requant qc = { mult, shift };
        const mt_conv_params p = conv_params(1, 0, 1, 2);
        const mt_s8_io io = { 0, 0, -128, 127 };
        const mt_dims xcd = { 1, 1, 1, 2 }, wd = { 2, 1, 1, 1 }, yd = { 1, 1, 1, 2 };
        /* 20 * 0.5 = 10;  -18 * 0.25 = -4.5 -> -4 (tie toward +inf) */
        const int8_t want[2] = { 10, -4 };
        MT_EXPECT_STATUS(mt_conv2d_s8(&p, &io, &qc, &xcd, xc, &wd, w, NULL, &yd, y), MT_OK);
        expect_s8(y, want, 2);
    }
    {
        /* saturation: an extreme bias saturates the accumulator, an extreme scale
         * saturates requantize, and output_offset is added without overflow. */
        const int8_t xc[1] = { 127 }, w[1] = { 127 };
        const int32_t big = INT32_MAX, small = INT32_MIN;
        const int32_t m1[1] = { INT32_MAX }, s30[1] = { 30 };
        const mt_requant qc = { m1, s30 };
        const mt_conv_params p = conv_params(1, 0, 1, 1);
        const mt_s8_io io = { 128, 127, -128, 127 }, io_lo = { 128, -128, -128, 127 };
        const mt_dims d1 = { 1, 1, 1, 1 };
        MT_EXPECT_STATUS(mt_conv2d_s8(&p, &io, &qc, &d1, xc, &d1, w, &big, &d1, y), MT_OK);
        MT_EXPECT(y[0] == 127);
        const int8_t w_neg[1] = { -128 };
        MT_EXPECT_STATUS(mt_conv2d_s8(&p, &io_lo, &qc, &d1, xc, &d1, w_neg, &small, &d1, y),
                         MT_OK);
        MT_EXPECT(y[0] == -128);
    }
}

/* ---- linear ------------------------------------------------------------------------- */

static int8_t big_x[65536], big_w[65536];

static void test_linear_by_hand(void)
{
    {
        /* x = (1, 2, 3), W = [[1, 1, 1], [1, -1, 0]], b = (10, -1), scale 1 (2^30, 1) */
        const int8_t x[3] = { 1, 2, 3 }, w[6] = { 1, 1, 1, 1, -1, 0 };
        const int32_t b[2] = { 10, -1 }, mult[2] = { HALF, HALF }, shift[2] = { 1, 1 };
        const mt_requant q = { mult, shift };
        const mt_s8_io io = { 0, 0, -128, 127 };
        const mt_dims xd = { 1, 1, 1, 3 }, wd = { 2, 1, 1, 3 }, yd = { 1, 1, 1, 2 };
        const int8_t want[2] = { 16, -2 };
        int8_t y[2];
        MT_EXPECT_STATUS(mt_linear_s8(&io, &q, &xd, x, &wd, w, b, &yd, y), MT_OK);
        expect_s8(y, want, 2);
        /* a 3-D input row flattens: (1, 3, 1, 1) is the same K = 3 */
        const mt_dims xd3 = { 1, 3, 1, 1 };
        MT_EXPECT_STATUS(mt_linear_s8(&io, &q, &xd3, x, &wd, w, b, &yd, y), MT_OK);
        expect_s8(y, want, 2);
        /* batch 2: the second row is the first with offset -1 applied: (0, 1, 2) */
        const int8_t x2[6] = { 1, 2, 3, 1, 2, 3 };
        const mt_dims xd2 = { 2, 1, 1, 3 }, yd2 = { 2, 1, 1, 2 };
        const mt_s8_io io2 = { -1, 5, -128, 127 };
        const int8_t want2[4] = { 13 + 5, -2 + 5, 13 + 5, -2 + 5 };
        int8_t y2[4];
        MT_EXPECT_STATUS(mt_linear_s8(&io2, &q, &xd2, x2, &wd, w, b, &yd2, y2), MT_OK);
        expect_s8(y2, want2, 4);
    }
    {
        /* The longest reduction, 65536, at the extreme products: |sum| = 2^16 * 255 * 128
         * = 2139095040 must not overflow; x 2^-25 = 63.75 -> 64. */
        const int32_t mult[1] = { HALF }, shift[1] = { -24 };
        const mt_requant q = { mult, shift };
        const mt_dims xd = { 1, 1, 1, 65536 }, wd = { 1, 1, 1, 65536 }, yd = { 1, 1, 1, 1 };
        int8_t y[1];
        memset(big_w, -128, sizeof big_w);
        memset(big_x, -128, sizeof big_x);
        const mt_s8_io io_neg = { -127, 0, -128, 127 };   /* x + offset = -255 */
        MT_EXPECT_STATUS(mt_linear_s8(&io_neg, &q, &xd, big_x, &wd, big_w, NULL, &yd, y), MT_OK);
        MT_EXPECT(y[0] == 64);
        memset(big_x, 127, sizeof big_x);
        const mt_s8_io io_pos = { 128, 0, -128, 127 };    /* x + offset = 255 */
        MT_EXPECT_STATUS(mt_linear_s8(&io_pos, &q, &xd, big_x, &wd, big_w, NULL, &yd, y), MT_OK);
        MT_EXPECT(y[0] == -64);   /* -63.75 -> -64 */
    }
}

/* ---- pooling -------------------------------------------------------------------------- */

static void test_pool_by_hand(void)
{
    {
        /* max: padding is -inf, so negative values survive; clamp to [-3, 127] */
        const int8_t x[4] = { -1, -2, -3, -4 };
        const mt_pool_params p = pool_params(2, 2, 1, 0, 0);
        const mt_dims xd = { 1, 2, 2, 1 }, yd = { 1, 2, 2, 1 };
        const int8_t want[4] = { -1, -2, -3, -3 };
        int8_t y[4];
        MT_EXPECT_STATUS(mt_maxpool2d_s8(&p, -3, 127, &xd, x, &yd, y), MT_OK);
        expect_s8(y, want, 4);
        const int8_t want_hi[4] = { -2, -2, -3, -4 };   /* clamp above at -2 */
        MT_EXPECT_STATUS(mt_maxpool2d_s8(&p, -128, -2, &xd, x, &yd, y), MT_OK);
        expect_s8(y, want_hi, 4);
    }
    {
        /* average rounding: 1.5 -> 2, -1.5 -> -2 (ties away from zero), 2/3 -> 1,
         * -2/3 -> -1, 1/3 -> 0 */
        const int8_t x[12] = { 1, 2, -1, -2, 1, 1, 0, -1, -1, 0, 1, 0 };
        const mt_dims xd = { 1, 1, 12, 1 };
        const mt_pool_params p2 = { 1, 2, 1, 2, 0, 0, 0, 0, 0, 1 };
        const mt_dims yd2 = { 1, 1, 6, 1 };
        const int8_t want2[6] = { 2, -2, 1, -1, -1, 1 };   /* 1.5 -1.5 1 -0.5 -0.5 0.5 */
        int8_t y[6];
        MT_EXPECT_STATUS(mt_avgpool2d_s8(&p2, -128, 127, &xd, x, &yd2, y), MT_OK);
        expect_s8(y, want2, 6);
        const mt_pool_params p3 = { 1, 3, 1, 3, 0, 0, 0, 0, 0, 1 };
        const mt_dims yd3 = { 1, 1, 4, 1 };
        const int8_t want3[4] = { 1, 0, -1, 0 };   /* 2/3, 0, -2/3, 1/3 */
        MT_EXPECT_STATUS(mt_avgpool2d_s8(&p3, -128, 127, &xd, x, &yd3, y), MT_OK);
        expect_s8(y, want3, 4);
    }
    {
        /* count_include_pad on a 1x1 input, 2x2 kernel, padding 1: 5 / 4 -> 1 when the
         * padding counts, 5 / 1 when it does not. */
        const int8_t x[1] = { 5 };
        const mt_dims xd = { 1, 1, 1, 1 }, yd = { 1, 2, 2, 1 };
        const mt_pool_params incl = pool_params(2, 1, 1, 0, 1), excl = pool_params(2, 1, 1, 0, 0);
        const int8_t want_incl[4] = { 1, 1, 1, 1 }, want_excl[4] = { 5, 5, 5, 5 };
        int8_t y[4];
        MT_EXPECT_STATUS(mt_avgpool2d_s8(&incl, -128, 127, &xd, x, &yd, y), MT_OK);
        expect_s8(y, want_incl, 4);
        MT_EXPECT_STATUS(mt_avgpool2d_s8(&excl, -128, 127, &xd, x, &yd, y), MT_OK);
        expect_s8(y, want_excl, 4);
        MT_EXPECT_STATUS(mt_avgpool2d_s8(&excl, 0, 3, &xd, x, &yd, y), MT_OK);
        MT_EXPECT(y[0] == 3);
    }
    {
        /* global: 2.5 -> 3 and -2.5 -> -3 (two channels, interleaved) */
        const int8_t x[8] = { 1, -1, 2, -2, 3, -3, 4, -4 };
        const mt_dims xd = { 1, 2, 2, 2 };
        int8_t y[2];
        MT_EXPECT_STATUS(mt_global_avgpool_s8(-128, 127, &xd, x, y), MT_OK);
        MT_EXPECT(y[0] == 3 && y[1] == -3);
        MT_EXPECT_STATUS(mt_global_avgpool_s8(-2, 2, &xd, x, y), MT_OK);
        MT_EXPECT(y[0] == 2 && y[1] == -2);
    }
}

/* ---- elementwise ------------------------------------------------------------------------ */

static void test_elementwise_by_hand(void)
{
    int8_t x[5] = { -128, -1, 0, 6, 127 };
    int8_t y[5];
    const int8_t want_relu6[5] = { 0, 0, 0, 6, 6 };
    MT_EXPECT_STATUS(mt_clamp_s8(0, 6, 5, x, y), MT_OK);
    expect_s8(y, want_relu6, 5);

    /* a table that negates (saturating): entry k is -(k - 128) */
    int8_t table[256];
    for (int k = 0; k < 256; k++) {
        int v = -(k - 128);
        table[k] = (int8_t)(v > 127 ? 127 : v);
    }
    const int8_t want_neg[5] = { 127, 1, 0, -6, -127 };
    MT_EXPECT_STATUS(mt_lut_s8(table, 5, x, y), MT_OK);
    expect_s8(y, want_neg, 5);
    /* in place */
    MT_EXPECT_STATUS(mt_lut_s8(table, 5, x, x), MT_OK);
    expect_s8(x, want_neg, 5);
    MT_EXPECT_STATUS(mt_clamp_s8(-1, 1, 5, x, x), MT_OK);
    const int8_t want_clamp[5] = { 1, 1, 0, -1, -1 };
    expect_s8(x, want_clamp, 5);
}

static int32_t exp_table[256];

static void test_softmax_by_hand(void)
{
    /* a table with e[0] = 2^23, e[1] = 2^22, e[d >= 2] = 0 */
    for (int d = 0; d < 256; d++)
        exp_table[d] = d == 0 ? (1 << 23) : (d == 1 ? (1 << 22) : 0);
    {
        /* (1, 0): 2/3 and 1/3 -> 170.67 -> 171 and 85.33 -> 85, minus 128 */
        const int8_t x[2] = { 1, 0 };
        int8_t y[2];
        MT_EXPECT_STATUS(mt_softmax_s8(exp_table, 1, 2, x, y), MT_OK);
        MT_EXPECT(y[0] == 43 && y[1] == -43);
        /* ties of 256*e/sum: (0, 0, 0, 0) -> 64 each -> -64 */
        int8_t x4[4] = { 0, 0, 0, 0 };
        MT_EXPECT_STATUS(mt_softmax_s8(exp_table, 1, 4, x4, x4), MT_OK);   /* in place */
        MT_EXPECT(x4[0] == -64 && x4[3] == -64);
        /* one column holds all the mass: 256 -> clamps to 127; the others 0 -> -128 */
        const int8_t x3[3] = { 0, 100, -100 };
        int8_t y3[3];
        MT_EXPECT_STATUS(mt_softmax_s8(exp_table, 1, 3, x3, y3), MT_OK);
        MT_EXPECT(y3[0] == -128 && y3[1] == 127 && y3[2] == -128);
        /* not a tie: 3 columns (1, 1, 0) -> 2^23, 2^23, 2^22:
         * 256 * 2/5 = 102.4 -> 102;  256 * 1/5 = 51.2 -> 51 */
        const int8_t x5[3] = { 1, 1, 0 };
        MT_EXPECT_STATUS(mt_softmax_s8(exp_table, 1, 3, x5, y3), MT_OK);
        MT_EXPECT(y3[0] == -26 && y3[1] == -26 && y3[2] == -77);
        /* two rows are independent */
        const int8_t xr[4] = { 5, 5, -7, -8 };
        int8_t yr[4];
        MT_EXPECT_STATUS(mt_softmax_s8(exp_table, 2, 2, xr, yr), MT_OK);
        MT_EXPECT(yr[0] == 0 && yr[1] == 0 && yr[2] == 43 && yr[3] == -43);
    }
    {
        /* exact ties of 256*e/sum round up: e = 2^23, 2^15, 2^23 - 2^15 sum to 2^24,
         * giving 128, 0.5 -> 1 and 127.5 -> 128 */
        exp_table[1] = 1 << 15;
        exp_table[2] = (1 << 23) - (1 << 15);
        const int8_t x[3] = { 2, 1, 0 };
        int8_t y[3];
        MT_EXPECT_STATUS(mt_softmax_s8(exp_table, 1, 3, x, y), MT_OK);
        MT_EXPECT(y[0] == 0 && y[1] == -127 && y[2] == 0);
        exp_table[1] = 1 << 22;
        exp_table[2] = 0;
    }
    {
        /* 256 equal columns at e = 2^23: the sum is 2^31, one past INT32_MAX */
        static int8_t x[256], y[256];
        memset(x, 7, sizeof x);
        MT_EXPECT_STATUS(mt_softmax_s8(exp_table, 1, 256, x, y), MT_OK);
        MT_EXPECT(y[0] == -127 && y[255] == -127);   /* 256 / 256 = 1 */
    }
}

/* ---- quantize / dequantize ------------------------------------------------------------------ */

static void test_quantize_by_hand(void)
{
    const float x[9] = { 1.25f, -1.25f, 0.2f, -0.2f, 100.0f, -100.0f, INFINITY, -INFINITY, 0.0f };
    int8_t q[9];
    /* scale 0.5: 2.5 -> 3, -2.5 -> -3 (half away from zero), saturation, +-Inf */
    const int8_t want[9] = { 3, -3, 0, 0, 127, -128, 127, -128, 0 };
    MT_EXPECT_STATUS(mt_quantize_s8(0.5f, 0, 9, x, q), MT_OK);
    expect_s8(q, want, 9);
    /* zero point 10: every value moves by 10 before the clamp */
    const int8_t want_zp[9] = { 13, 7, 10, 10, 127, -128, 127, -128, 10 };
    MT_EXPECT_STATUS(mt_quantize_s8(0.5f, 10, 9, x, q), MT_OK);
    expect_s8(q, want_zp, 9);

    const int8_t qs[3] = { -128, 0, 127 };
    float f[3];
    MT_EXPECT_STATUS(mt_dequantize_s8(0.5f, -128, 3, qs, f), MT_OK);
    MT_EXPECT(f[0] == 0.0f && f[1] == 64.0f && f[2] == 127.5f);

    /* NaN: MT_ERR_NONFINITE and out untouched */
    const float bad[3] = { 1.0f, NAN, 2.0f };
    int8_t untouched[3] = { 42, 42, 42 };
    MT_EXPECT_STATUS(mt_quantize_s8(0.5f, 0, 3, bad, untouched), MT_ERR_NONFINITE);
    MT_EXPECT(untouched[0] == 42 && untouched[1] == 42 && untouched[2] == 42);
}

/* ---- status codes ----------------------------------------------------------------------------- */

static void test_status(void)
{
    int8_t buf[64];
    memset(buf, 0, sizeof buf);
    const int32_t bias[4] = { 0, 0, 0, 0 };
    const int32_t half[4] = { HALF, HALF, HALF, HALF }, zero[4] = { 0, 0, 0, 0 };
    const mt_requant q = { half, zero };
    const mt_s8_io io = { 0, 0, -128, 127 };
    const mt_conv_params cp = conv_params(1, 0, 1, 1);
    const mt_dims xd = { 1, 3, 3, 1 }, wd = { 1, 2, 2, 1 }, yd = { 1, 2, 2, 1 };

    /* conv2d */
    MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &io, &q, &xd, buf, &wd, buf, bias, &yd, buf + 32), MT_OK);
    MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &io, &q, &xd, buf, &wd, buf, NULL, &yd, buf + 32), MT_OK);
    MT_EXPECT_STATUS(mt_conv2d_s8(NULL, &io, &q, &xd, buf, &wd, buf, bias, &yd, buf), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_conv2d_s8(&cp, NULL, &q, &xd, buf, &wd, buf, bias, &yd, buf), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &io, NULL, &xd, buf, &wd, buf, bias, &yd, buf), MT_ERR_NULL);
    {
        const mt_requant q_null = { half, NULL };
        MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &io, &q_null, &xd, buf, &wd, buf, bias, &yd, buf),
                         MT_ERR_NULL);
    }
    MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &io, &q, &xd, NULL, &wd, buf, bias, &yd, buf), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &io, &q, &xd, buf, &wd, NULL, bias, &yd, buf), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &io, &q, &xd, buf, &wd, buf, bias, &yd, NULL), MT_ERR_NULL);
    {
        const mt_s8_io bad[6] = { { -128, 0, -128, 127 }, { 129, 0, -128, 127 },
                                  { 0, 128, -128, 127 }, { 0, -129, -128, 127 },
                                  { 0, 0, 5, 4 }, { 0, 0, -129, 127 } };
        for (int i = 0; i < 6; i++)
            MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &bad[i], &q, &xd, buf, &wd, buf, bias, &yd, buf),
                             MT_ERR_ARG);
        const mt_s8_io edge = { -127, -128, 127, 127 };   /* every bound itself is fine */
        MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &edge, &q, &xd, buf, &wd, buf, bias, &yd, buf + 32),
                         MT_OK);
        const mt_s8_io edge2 = { 128, 127, -128, -128 };
        MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &edge2, &q, &xd, buf, &wd, buf, bias, &yd, buf + 32),
                         MT_OK);
    }
    {
        const mt_conv_params stride0 = conv_params(0, 0, 1, 1), dil0 = conv_params(1, 0, 0, 1);
        const mt_conv_params groups0 = conv_params(1, 0, 1, 0), negpad = conv_params(1, -1, 1, 1);
        MT_EXPECT_STATUS(mt_conv2d_s8(&stride0, &io, &q, &xd, buf, &wd, buf, bias, &yd, buf), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_conv2d_s8(&dil0, &io, &q, &xd, buf, &wd, buf, bias, &yd, buf), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_conv2d_s8(&groups0, &io, &q, &xd, buf, &wd, buf, bias, &yd, buf), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_conv2d_s8(&negpad, &io, &q, &xd, buf, &wd, buf, bias, &yd, buf), MT_ERR_ARG);
        /* multipliers and shifts */
        const int32_t mneg[1] = { -1 }, s31[1] = { 31 }, sm32[1] = { -32 }, s30[1] = { 30 };
        const int32_t sm31[1] = { -31 }, m0[1] = { 0 };
        const mt_requant q1 = { mneg, zero }, q2 = { half, s31 }, q3 = { half, sm32 };
        const mt_requant ok1 = { half, s30 }, ok2 = { half, sm31 }, ok3 = { m0, zero };
        MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &io, &q1, &xd, buf, &wd, buf, bias, &yd, buf), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &io, &q2, &xd, buf, &wd, buf, bias, &yd, buf), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &io, &q3, &xd, buf, &wd, buf, bias, &yd, buf), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &io, &ok1, &xd, buf, &wd, buf, bias, &yd, buf + 32), MT_OK);
        MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &io, &ok2, &xd, buf, &wd, buf, bias, &yd, buf + 32), MT_OK);
        MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &io, &ok3, &xd, buf, &wd, buf, bias, &yd, buf + 32), MT_OK);
        /* the second channel's shift is checked too */
        const int32_t two_shifts[2] = { 0, 31 };
        const mt_requant q4 = { half, two_shifts };
        const mt_dims wd2 = { 2, 2, 2, 1 }, yd2 = { 1, 2, 2, 2 };
        MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &io, &q4, &xd, buf, &wd2, buf, bias, &yd2, buf), MT_ERR_ARG);
    }
    {
        const mt_dims bad_y = { 1, 3, 3, 1 }, bad_w = { 1, 2, 2, 2 }, zero_d = { 0, 3, 3, 1 };
        MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &io, &q, &xd, buf, &wd, buf, bias, &bad_y, buf), MT_ERR_SHAPE);
        MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &io, &q, &xd, buf, &bad_w, buf, bias, &yd, buf), MT_ERR_SHAPE);
        MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &io, &q, &zero_d, buf, &wd, buf, bias, &yd, buf), MT_ERR_SHAPE);
        const mt_conv_params g2 = conv_params(1, 0, 1, 2);   /* 1 channel not divisible by 2 */
        MT_EXPECT_STATUS(mt_conv2d_s8(&g2, &io, &q, &xd, buf, &wd, buf, bias, &yd, buf), MT_ERR_SHAPE);
        /* the window does not fit the input */
        const mt_dims big_w = { 1, 4, 4, 1 };
        MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &io, &q, &xd, buf, &big_w, buf, bias, &yd, buf), MT_ERR_SHAPE);
    }
    {
        /* a reduction of 65537 is refused before any memory is read */
        const mt_dims x_long = { 1, 1, 1, 65537 }, w_long = { 1, 1, 1, 65537 }, y1 = { 1, 1, 1, 1 };
        MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &io, &q, &x_long, buf, &w_long, buf, bias, &y1, buf),
                         MT_ERR_UNSUPPORTED);
        const mt_dims x_k = { 1, 257, 256, 1 }, w_k = { 1, 257, 256, 1 };
        MT_EXPECT_STATUS(mt_conv2d_s8(&cp, &io, &q, &x_k, buf, &w_k, buf, bias, &y1, buf),
                         MT_ERR_UNSUPPORTED);
    }

    /* linear */
    {
        const mt_dims lx = { 2, 1, 1, 3 }, lw = { 2, 1, 1, 3 }, ly = { 2, 1, 1, 2 };
        MT_EXPECT_STATUS(mt_linear_s8(&io, &q, &lx, buf, &lw, buf, bias, &ly, buf + 32), MT_OK);
        MT_EXPECT_STATUS(mt_linear_s8(NULL, &q, &lx, buf, &lw, buf, bias, &ly, buf), MT_ERR_NULL);
        MT_EXPECT_STATUS(mt_linear_s8(&io, NULL, &lx, buf, &lw, buf, bias, &ly, buf), MT_ERR_NULL);
        MT_EXPECT_STATUS(mt_linear_s8(&io, &q, &lx, NULL, &lw, buf, bias, &ly, buf), MT_ERR_NULL);
        MT_EXPECT_STATUS(mt_linear_s8(&io, &q, &lx, buf, &lw, NULL, bias, &ly, buf), MT_ERR_NULL);
        MT_EXPECT_STATUS(mt_linear_s8(&io, &q, &lx, buf, &lw, buf, bias, NULL, buf), MT_ERR_NULL);
        const mt_s8_io bad = { 0, 0, 10, -10 };
        MT_EXPECT_STATUS(mt_linear_s8(&bad, &q, &lx, buf, &lw, buf, bias, &ly, buf), MT_ERR_ARG);
        const int32_t sbad[2] = { 0, -40 };
        const mt_requant qbad = { half, sbad };
        MT_EXPECT_STATUS(mt_linear_s8(&io, &qbad, &lx, buf, &lw, buf, bias, &ly, buf), MT_ERR_ARG);
        const mt_dims bad_k = { 2, 1, 1, 4 }, bad_n = { 1, 1, 1, 2 }, bad_wh = { 2, 3, 1, 1 };
        MT_EXPECT_STATUS(mt_linear_s8(&io, &q, &bad_k, buf, &lw, buf, bias, &ly, buf), MT_ERR_SHAPE);
        MT_EXPECT_STATUS(mt_linear_s8(&io, &q, &lx, buf, &lw, buf, bias, &bad_n, buf), MT_ERR_SHAPE);
        MT_EXPECT_STATUS(mt_linear_s8(&io, &q, &lx, buf, &bad_wh, buf, bias, &ly, buf), MT_ERR_SHAPE);
        const mt_dims x_long = { 1, 1, 1, 65537 }, w_long = { 1, 1, 1, 65537 }, y1 = { 1, 1, 1, 1 };
        MT_EXPECT_STATUS(mt_linear_s8(&io, &q, &x_long, buf, &w_long, buf, bias, &y1, buf),
                         MT_ERR_UNSUPPORTED);
    }

    /* pooling */
    {
        const mt_pool_params pp = pool_params(2, 1, 0, 0, 1);
        const mt_dims px = { 1, 3, 3, 1 }, py = { 1, 2, 2, 1 };
        MT_EXPECT_STATUS(mt_maxpool2d_s8(&pp, -128, 127, &px, buf, &py, buf + 32), MT_OK);
        MT_EXPECT_STATUS(mt_avgpool2d_s8(&pp, -128, 127, &px, buf, &py, buf + 32), MT_OK);
        MT_EXPECT_STATUS(mt_maxpool2d_s8(NULL, -128, 127, &px, buf, &py, buf), MT_ERR_NULL);
        MT_EXPECT_STATUS(mt_avgpool2d_s8(&pp, -128, 127, &px, NULL, &py, buf), MT_ERR_NULL);
        MT_EXPECT_STATUS(mt_maxpool2d_s8(&pp, -128, 127, &px, buf, &py, NULL), MT_ERR_NULL);
        MT_EXPECT_STATUS(mt_maxpool2d_s8(&pp, 1, 0, &px, buf, &py, buf), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_avgpool2d_s8(&pp, -128, 128, &px, buf, &py, buf), MT_ERR_ARG);
        const mt_pool_params k0 = pool_params(0, 1, 0, 0, 1), s0 = pool_params(2, 0, 0, 0, 1);
        const mt_pool_params pad_k = pool_params(2, 1, 2, 0, 1);   /* pad must be < kernel */
        MT_EXPECT_STATUS(mt_maxpool2d_s8(&k0, -128, 127, &px, buf, &py, buf), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_avgpool2d_s8(&s0, -128, 127, &px, buf, &py, buf), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_maxpool2d_s8(&pad_k, -128, 127, &px, buf, &py, buf), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_avgpool2d_s8(&pad_k, -128, 127, &px, buf, &py, buf), MT_ERR_ARG);
        const mt_dims bad_y = { 1, 3, 2, 1 }, bad_c = { 1, 2, 2, 2 };
        MT_EXPECT_STATUS(mt_maxpool2d_s8(&pp, -128, 127, &px, buf, &bad_y, buf), MT_ERR_SHAPE);
        MT_EXPECT_STATUS(mt_avgpool2d_s8(&pp, -128, 127, &px, buf, &bad_c, buf), MT_ERR_SHAPE);
        /* an average window of 257*256 > 65536 taps */
        const mt_pool_params huge = pool_params(257, 1, 0, 0, 1);
        const mt_dims hx = { 1, 257, 257, 1 }, hy = { 1, 1, 1, 1 };
        MT_EXPECT_STATUS(mt_avgpool2d_s8(&huge, -128, 127, &hx, buf, &hy, buf), MT_ERR_UNSUPPORTED);
        /* global */
        int8_t gy[1];
        MT_EXPECT_STATUS(mt_global_avgpool_s8(-128, 127, &px, buf, gy), MT_OK);
        MT_EXPECT_STATUS(mt_global_avgpool_s8(-128, 127, NULL, buf, gy), MT_ERR_NULL);
        MT_EXPECT_STATUS(mt_global_avgpool_s8(-128, 127, &px, buf, NULL), MT_ERR_NULL);
        MT_EXPECT_STATUS(mt_global_avgpool_s8(3, 2, &px, buf, gy), MT_ERR_ARG);
        const mt_dims gz = { 1, 0, 3, 1 };
        MT_EXPECT_STATUS(mt_global_avgpool_s8(-128, 127, &gz, buf, gy), MT_ERR_SHAPE);
        const mt_dims g_ok = { 1, 256, 256, 1 }, g_big = { 1, 257, 256, 1 };
        MT_EXPECT_STATUS(mt_global_avgpool_s8(-128, 127, &g_big, buf, gy), MT_ERR_UNSUPPORTED);
        MT_EXPECT_STATUS(mt_global_avgpool_s8(-128, 127, &g_ok, big_x, gy), MT_OK);
    }

    /* elementwise */
    {
        int8_t table[256];
        memset(table, 0, sizeof table);
        MT_EXPECT_STATUS(mt_clamp_s8(0, 6, 4, buf, buf + 32), MT_OK);
        MT_EXPECT_STATUS(mt_clamp_s8(0, 6, 4, NULL, buf), MT_ERR_NULL);
        MT_EXPECT_STATUS(mt_clamp_s8(0, 6, 4, buf, NULL), MT_ERR_NULL);
        MT_EXPECT_STATUS(mt_clamp_s8(7, 6, 4, buf, buf), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_clamp_s8(-129, 6, 4, buf, buf), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_clamp_s8(0, 128, 4, buf, buf), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_clamp_s8(0, 6, 0, buf, buf), MT_ERR_SHAPE);
        MT_EXPECT_STATUS(mt_lut_s8(table, 4, buf, buf + 32), MT_OK);
        MT_EXPECT_STATUS(mt_lut_s8(NULL, 4, buf, buf), MT_ERR_NULL);
        MT_EXPECT_STATUS(mt_lut_s8(table, 4, NULL, buf), MT_ERR_NULL);
        MT_EXPECT_STATUS(mt_lut_s8(table, -1, buf, buf), MT_ERR_SHAPE);
    }

    /* softmax */
    {
        for (int d = 0; d < 256; d++)
            exp_table[d] = (1 << 23) >> (d < 23 ? d : 23);
        MT_EXPECT_STATUS(mt_softmax_s8(exp_table, 2, 3, buf, buf + 32), MT_OK);
        MT_EXPECT_STATUS(mt_softmax_s8(NULL, 2, 3, buf, buf), MT_ERR_NULL);
        MT_EXPECT_STATUS(mt_softmax_s8(exp_table, 2, 3, NULL, buf), MT_ERR_NULL);
        MT_EXPECT_STATUS(mt_softmax_s8(exp_table, 2, 3, buf, NULL), MT_ERR_NULL);
        MT_EXPECT_STATUS(mt_softmax_s8(exp_table, 0, 3, buf, buf), MT_ERR_SHAPE);
        MT_EXPECT_STATUS(mt_softmax_s8(exp_table, 2, 0, buf, buf), MT_ERR_SHAPE);
        MT_EXPECT_STATUS(mt_softmax_s8(exp_table, 1, 257, buf, buf), MT_ERR_UNSUPPORTED);
        exp_table[5] = (1 << 23) + 1;
        MT_EXPECT_STATUS(mt_softmax_s8(exp_table, 2, 3, buf, buf), MT_ERR_ARG);
        exp_table[5] = -1;
        MT_EXPECT_STATUS(mt_softmax_s8(exp_table, 2, 3, buf, buf), MT_ERR_ARG);
        exp_table[5] = 0;
        exp_table[0] = 0;   /* the row maximum must contribute, or the sum could be 0 */
        MT_EXPECT_STATUS(mt_softmax_s8(exp_table, 2, 3, buf, buf), MT_ERR_ARG);
    }

    /* quantize / dequantize */
    {
        const float xf[4] = { 0, 1, 2, 3 };
        float yf[4];
        MT_EXPECT_STATUS(mt_quantize_s8(0.1f, 0, 4, xf, buf), MT_OK);
        MT_EXPECT_STATUS(mt_quantize_s8(0.1f, 0, 4, NULL, buf), MT_ERR_NULL);
        MT_EXPECT_STATUS(mt_quantize_s8(0.1f, 0, 4, xf, NULL), MT_ERR_NULL);
        MT_EXPECT_STATUS(mt_quantize_s8(0.0f, 0, 4, xf, buf), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_quantize_s8(-0.1f, 0, 4, xf, buf), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_quantize_s8(NAN, 0, 4, xf, buf), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_quantize_s8(INFINITY, 0, 4, xf, buf), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_quantize_s8(0.1f, 128, 4, xf, buf), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_quantize_s8(0.1f, -129, 4, xf, buf), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_quantize_s8(0.1f, 0, 0, xf, buf), MT_ERR_SHAPE);
        MT_EXPECT_STATUS(mt_dequantize_s8(0.1f, 0, 4, buf, yf), MT_OK);
        MT_EXPECT_STATUS(mt_dequantize_s8(0.1f, 0, 4, NULL, yf), MT_ERR_NULL);
        MT_EXPECT_STATUS(mt_dequantize_s8(0.1f, 0, 4, buf, NULL), MT_ERR_NULL);
        MT_EXPECT_STATUS(mt_dequantize_s8(0.0f, 0, 4, buf, yf), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_dequantize_s8(0.1f, 200, 4, buf, yf), MT_ERR_ARG);
        MT_EXPECT_STATUS(mt_dequantize_s8(0.1f, 0, -4, buf, yf), MT_ERR_SHAPE);
    }
}

int main(void)
{
    test_requantize();
    test_conv2d_by_hand();
    test_linear_by_hand();
    test_pool_by_hand();
    test_elementwise_by_hand();
    test_softmax_by_hand();
    test_quantize_by_hand();
    test_status();
    return mt_test_summary("test_s8");
}
