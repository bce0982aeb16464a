/* test_f32_fast.c - the register-blocked float32 forward kernels against their
 * reference twins (runtime_c/src/support/f32_reference.h).
 *
 * mt_conv2d_f32 tiles 4 pixels x 2 channels and mt_linear_f32 8 rows per pass;
 * both keep the reference loop's summation order (bias first for conv, bias last
 * for linear; taps in filter order), so the outputs must be bit-identical, not
 * just close. The grid covers C = 1, odd sizes, padding (per side), stride 2,
 * row dilation, batch 2, O not a multiple of the block, partial pixel tiles,
 * no bias, and the fused clamp; guard words catch writes past the output.
 * test_conv_border covers the padded border (clipped rows in the tiles, clipped
 * columns in conv_pixel_clipped) as the fused conv+pool bands produce it. */
#include <math.h>
#include <string.h>
#include "mt/mt.h"
#include "mt_test.h"
#include "../../runtime_c/src/support/f32_reference.h"

enum { MAX_X = 2 * 14 * 14 * 6, MAX_W = 16 * 5 * 5 * 6, MAX_Y = 28 * 28 * 6, GUARD = 8 };

static void fill(float *v, int count, unsigned *seed)
{
    for (int i = 0; i < count; i++)
        v[i] = mt_test_rand(seed);
}

/* 1 if a and b hold the same bits. */
static int same_bits(const float *a, const float *b, int count)
{
    return memcmp(a, b, (size_t)count * sizeof(float)) == 0;
}

static const mt_range_f32 RELU = { 0.0f, INFINITY }, CLIP = { -0.25f, 0.5f };

/* One convolution through both paths; returns 1 if the geometry was valid. */
static int conv_case(int n, int c, int h, int w, int o, int kh, int kw, int sh, int sw,
                     int pt, int pl, int pb, int pr, int dh, int dw, int groups,
                     int with_bias, const mt_range_f32 *act, unsigned seed)
{
    static float x[MAX_X], wt[MAX_W], b[16], y_fast[MAX_Y + GUARD], y_ref[MAX_Y + GUARD];
    const mt_conv_params p = { sh, sw, pt, pl, pb, pr, dh, dw, groups };
    const int oh = (h + pt + pb - dh * (kh - 1) - 1) / sh + 1;
    const int ow = (w + pl + pr - dw * (kw - 1) - 1) / sw + 1;
    if (h + pt + pb < dh * (kh - 1) + 1 || w + pl + pr < dw * (kw - 1) + 1)
        return 0;
    const mt_dims xd = { n, h, w, c }, wd = { o, kh, kw, c / groups }, yd = { n, oh, ow, o };
    const int ny = n * oh * ow * o;
    if (n * h * w * c > MAX_X || o * kh * kw * (c / groups) > MAX_W || ny > MAX_Y)
        return 0;
    fill(x, n * h * w * c, &seed);
    fill(wt, o * kh * kw * (c / groups), &seed);
    fill(b, o, &seed);
    for (int i = 0; i < MAX_Y + GUARD; i++)
        y_fast[i] = y_ref[i] = 1234.5f;
    const float *bias = with_bias ? b : NULL;
    MT_EXPECT_STATUS(mt_conv2d_f32(&p, act, &xd, x, &wd, wt, bias, &yd, y_fast), MT_OK);
    MT_EXPECT_STATUS(mt_conv2d_f32_reference(&p, act, &xd, x, &wd, wt, bias, &yd, y_ref), MT_OK);
    if (!same_bits(y_fast, y_ref, MAX_Y + GUARD)) {
        MT_EXPECT(same_bits(y_fast, y_ref, MAX_Y + GUARD));
        fprintf(stderr, "  conv n%d c%d %dx%d o%d k%dx%d s%d,%d pad %d,%d,%d,%d d%d,%d g%d\n",
                n, c, h, w, o, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups);
        for (int i = 0; i < ny; i++)
            MT_EXPECT_NEAR(y_fast[i], y_ref[i], 1e-6);
    } else {
        MT_EXPECT(1);
    }
    return 1;
}

/* LeNet-5's layers, then a deterministic sweep of small geometries. */
static void test_conv_grid(void)
{
    MT_EXPECT(conv_case(1, 1, 32, 32, 6, 5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, &RELU, 1));  /* conv1 */
    MT_EXPECT(conv_case(1, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, &RELU, 2)); /* conv2 */
    MT_EXPECT(conv_case(2, 6, 11, 11, 9, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, NULL, 3));   /* padded */

    static const int cs[] = { 1, 2, 3 }, os[] = { 1, 2, 3, 5 }, hs[] = { 1, 4, 7 },
                     ks[] = { 1, 2, 3 };
    const mt_range_f32 *acts[] = { NULL, &RELU, &CLIP };
    unsigned seed = 99;
    int run = 0;
    for (int ci = 0; ci < 3; ci++)
        for (int oi = 0; oi < 4; oi++)
            for (int hi = 0; hi < 3; hi++)
                for (int ki = 0; ki < 3; ki++)
                    for (int variant = 0; variant < 6; variant++) {
                        const int h = hs[hi], w = hs[(hi + variant) % 3] + 2, k = ks[ki];
                        const int s = 1 + (variant & 1), pad = variant % 3;
                        const int dil = 1 + (variant == 4);
                        run += conv_case(1 + (variant == 5), cs[ci], h, w, os[oi], k, ks[(ki + 1) % 3],
                                         s, 1 + (variant == 3), pad, pad % 2, (pad + 1) % 2, pad,
                                         dil, 1, 1, variant != 2, acts[(ci + oi + variant) % 3],
                                         seed++);
                    }
    MT_EXPECT(run > 300);
    /* geometries the fast path leaves to the reference (column dilation, groups) */
    MT_EXPECT(conv_case(2, 4, 9, 9, 6, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 2, 1, &CLIP, 7));
    MT_EXPECT(conv_case(1, 4, 6, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4, 1, NULL, 8));
}

/* The padded border (conv_pixel_clipped, and tiles with clipped rows): padding on
 * one side at a time and on all, as the engine's bands get it (top only, bottom
 * only), C = 1 and 3x3 like digits_cnn's conv1, O = 1 .. 7 (the 4-channel passes
 * with 1..3 repeated channels), odd sizes, stride 2, row dilation, a kernel taller
 * and wider than the input, and windows wholly in the padding (pad >= kernel). */
static void test_conv_border(void)
{
    static const int pads[][4] = { { 1, 0, 0, 0 }, { 0, 1, 0, 0 }, { 0, 0, 1, 0 }, { 0, 0, 0, 1 },
                                   { 1, 1, 1, 1 }, { 2, 1, 0, 2 }, { 0, 2, 2, 1 }, { 3, 3, 3, 3 } };
    const mt_range_f32 *acts[] = { NULL, &RELU, &CLIP };
    unsigned seed = 321;
    int run = 0;
    for (int pi = 0; pi < 8; pi++)
        for (int o = 1; o <= 7; o++)
            for (int variant = 0; variant < 6; variant++) {
                const int c = variant < 3 ? 1 : 1 + variant % 3, k = 3 + (variant == 5) * 2;
                const int h = 2 + variant + o % 3, w = 3 + (o + variant) % 6;
                const int s = 1 + (variant == 2), dil = 1 + (variant == 4);
                run += conv_case(1 + (variant == 1), c, h, w, o, k, k - (variant == 3), s, 1,
                                 pads[pi][0], pads[pi][1], pads[pi][2], pads[pi][3], dil, 1, 1,
                                 (o + variant) % 4 != 0, acts[(pi + o + variant) % 3], seed++);
            }
    MT_EXPECT(run > 300);
    /* digits_cnn's conv1 and conv2 whole, and their fused bands (2 rows each) */
    MT_EXPECT(conv_case(1, 1, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, &RELU, 41));
    MT_EXPECT(conv_case(1, 1, 3, 8, 8, 3, 3, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, &RELU, 42));
    MT_EXPECT(conv_case(1, 1, 4, 8, 8, 3, 3, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, &RELU, 43));
    MT_EXPECT(conv_case(1, 1, 3, 8, 8, 3, 3, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, &RELU, 44));
    MT_EXPECT(conv_case(1, 8, 4, 4, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, &RELU, 45));
    /* a -0 bias and zero inputs: a skipped padding tap must not turn -0 into +0 */
    {
        static float x[4 * 4], wt[3 * 3], y_fast[4 * 4], y_ref[4 * 4];
        const float b = -0.0f;
        const mt_conv_params p = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
        const mt_dims xd = { 1, 4, 4, 1 }, wd = { 1, 3, 3, 1 }, yd = { 1, 4, 4, 1 };
        for (int i = 0; i < 16; i++)
            x[i] = -0.0f;
        for (int i = 0; i < 9; i++)
            wt[i] = 1.0f;
        MT_EXPECT_STATUS(mt_conv2d_f32(&p, NULL, &xd, x, &wd, wt, &b, &yd, y_fast), MT_OK);
        MT_EXPECT_STATUS(mt_conv2d_f32_reference(&p, NULL, &xd, x, &wd, wt, &b, &yd, y_ref), MT_OK);
        MT_EXPECT(same_bits(y_fast, y_ref, 16));
    }
}

static void linear_case(int n, int k, int o, int with_bias, const mt_range_f32 *act, unsigned seed)
{
    static float x[3 * 400], wt[130 * 400], b[130], y_fast[3 * 130 + GUARD], y_ref[3 * 130 + GUARD];
    const mt_dims xd = { n, 1, 1, k }, wd = { o, 1, 1, k }, yd = { n, 1, 1, o };
    fill(x, n * k, &seed);
    fill(wt, o * k, &seed);
    fill(b, o, &seed);
    for (int i = 0; i < 3 * 130 + GUARD; i++)
        y_fast[i] = y_ref[i] = 1234.5f;
    const float *bias = with_bias ? b : NULL;
    MT_EXPECT_STATUS(mt_linear_f32(act, &xd, x, &wd, wt, bias, &yd, y_fast), MT_OK);
    MT_EXPECT_STATUS(mt_linear_f32_reference(act, &xd, x, &wd, wt, bias, &yd, y_ref), MT_OK);
    if (!same_bits(y_fast, y_ref, 3 * 130 + GUARD)) {
        MT_EXPECT(same_bits(y_fast, y_ref, 3 * 130 + GUARD));
        fprintf(stderr, "  linear n%d k%d o%d\n", n, k, o);
    } else {
        MT_EXPECT(1);
    }
}

static void test_linear_grid(void)
{
    static const int ks[] = { 1, 3, 8, 9, 120, 400 }, os[] = { 1, 7, 8, 9, 10, 17, 84, 120, 130 };
    const mt_range_f32 *acts[] = { NULL, &RELU, &CLIP };
    unsigned seed = 5;
    for (int n = 1; n <= 3; n++)
        for (int ki = 0; ki < 6; ki++)
            for (int oi = 0; oi < 9; oi++)
                linear_case(n, ks[ki], os[oi], (ki + oi) % 4 != 0, acts[(n + ki + oi) % 3], seed++);
}

/* NaN and infinities flow through both paths the same way. */
static void test_specials(void)
{
    float x[5 * 5], wt[2 * 3 * 3], y_fast[2 * 3 * 3], y_ref[2 * 3 * 3];
    unsigned seed = 11;
    fill(x, 25, &seed);
    fill(wt, 18, &seed);
    x[6] = NAN;
    x[18] = INFINITY;
    const mt_conv_params p = { 1, 1, 0, 0, 0, 0, 1, 1, 1 };
    const mt_dims xd = { 1, 5, 5, 1 }, wd = { 2, 3, 3, 1 }, yd = { 1, 3, 3, 2 };
    MT_EXPECT_STATUS(mt_conv2d_f32(&p, &CLIP, &xd, x, &wd, wt, NULL, &yd, y_fast), MT_OK);
    MT_EXPECT_STATUS(mt_conv2d_f32_reference(&p, &CLIP, &xd, x, &wd, wt, NULL, &yd, y_ref), MT_OK);
    for (int i = 0; i < 18; i++)
        MT_EXPECT(isnan(y_fast[i]) ? isnan(y_ref[i]) : y_fast[i] == y_ref[i]);
    MT_EXPECT(isnan(y_fast[0]));   /* the window of (0,0) holds x[1,1] = NaN */
}

/* Max pooling: 2x2 windows (the fast path), clipped and larger windows, with
 * NaN and -inf in the input; NaN payloads differ so the chosen tap shows. */
static void test_maxpool_grid(void)
{
    enum { POOL_X = 2 * 7 * 9 * 7, POOL_Y = 2 * 13 * 13 * 7 };   /* pads up to 2 per side */
    static float x[POOL_X], y_fast[POOL_Y + GUARD], y_ref[POOL_Y + GUARD];
    unsigned seed = 21;
    int run = 0;
    for (int k = 1; k <= 3; k++)
        for (int s = 1; s <= 3; s++)
            for (int pad = 0; pad < k; pad++)
                for (int variant = 0; variant < 4; variant++) {
                    const int n = 1 + (variant & 1), c = 1 + 2 * variant, h = 4 + variant, w = 9 - variant;
                    const int ceil_mode = variant >= 2;
                    const mt_pool_params p = { k, k + (variant == 3 && k < 3), s, s, pad, pad, pad,
                                               pad, ceil_mode, 1 };
                    const int kw = p.kernel_w;
                    if (pad >= kw)
                        continue;
                    const int oh = mt_pool_out_size(h, k, s, pad, pad, ceil_mode);
                    const int ow = mt_pool_out_size(w, kw, s, pad, pad, ceil_mode);
                    if (oh < 1 || ow < 1 || n * h * w * c > POOL_X || n * oh * ow * c > POOL_Y)
                        continue;
                    const mt_dims xd = { n, h, w, c }, yd = { n, oh, ow, c };
                    fill(x, n * h * w * c, &seed);
                    x[0] = NAN;                   /* two NaNs in the first window: */
                    x[c] = -NAN;                  /* the scan order picks one      */
                    x[w * c + c] = -INFINITY;
                    x[n * h * w * c - 1] = -INFINITY;
                    for (int i = 0; i < POOL_Y + GUARD; i++)
                        y_fast[i] = y_ref[i] = 1234.5f;
                    mt_status st = mt_maxpool2d_f32(&p, &xd, x, &yd, y_fast);
                    MT_EXPECT_STATUS(mt_maxpool2d_f32_reference(&p, &xd, x, &yd, y_ref), st);
                    if (st != MT_OK)
                        continue;
                    run++;
                    if (!same_bits(y_fast, y_ref, POOL_Y + GUARD)) {
                        MT_EXPECT(same_bits(y_fast, y_ref, POOL_Y + GUARD));
                        fprintf(stderr, "  maxpool k%dx%d s%d pad %d variant %d\n", k, kw, s, pad,
                                variant);
                    }
                }
    MT_EXPECT(run > 40);
}

int main(void)
{
    test_conv_grid();
    test_conv_border();
    test_linear_grid();
    test_specials();
    test_maxpool_grid();
    return mt_test_summary("test_f32_fast");
}
