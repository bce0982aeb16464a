/* conv2d_s8.c - 2-D convolution, int8 (inference), the twin of conv2d_f32.c.
 *
 * Same layout and geometry: activations NHWC, filters OHWI = (O, KH, KW, CG) with
 * CG = C / groups; output channel o belongs to group g = o / OG (OG = O / groups);
 *   iy = oy*sh - pt + ky*dh,  ix = ox*sw - pl + kx*dw   (outside the input = padding)
 *
 *   acc[o] = sat32( bias[o] + sum_{ky,kx,i} (x[n,iy,ix,g*CG+i] + input_offset) * w[o,ky,kx,i] )
 *   y[n,oy,ox,o] = clamp( requantize(acc[o], M[o], shift[o]) + output_offset, act_min, act_max )
 *
 * A padding tap is the real value 0, i.e. x + input_offset == 0, so it is skipped.
 * bias may be NULL (zero). The bias add saturates: the product sum itself cannot
 * overflow (below), but an arbitrary int32 bias added to it could, and saturation
 * gives the same int8 output as exact arithmetic whenever the exact accumulator
 * fits in int32 (the converter's biases always do).
 */
#include <stdint.h>
#include <string.h>
#include "mt/mt.h"
#include "../support/check.h"
#include "../support/geometry.h"
#include "../support/requant.h"
#include "../support/simd_s8.h"

/* Overflow, for both paths: x + input_offset is in [-255, 255] (x in [-128, 127],
 * input_offset in [-127, 128]) and w in [-128, 127], so each product has
 * |p| <= 255 * 128 = 32640 < 2^15; at most KH*KW*CG <= 65536 products give
 * |sum| <= 2^16 * 32640 = 2139095040 < INT32_MAX, for the whole sum and for every
 * partial sum, in any order (integer addition is exact, so both paths agree). */

/* Bias, requantize, offset and clamp one accumulator. */
static int8_t conv_s8_output(int32_t sum, const int32_t *bias, int32_t o, const mt_requant *quant,
                             const mt_s8_io *io)
{
    const int32_t acc = bias ? mt_add_sat_s32(sum, bias[o]) : sum;
    return mt_out_general(acc, quant->multiplier[o], quant->shift[o], io->output_offset,
                          io->act_min, io->act_max);
}

/* ---- the fast path: groups == 1, K = KH*KW*C <= FAST_K_MAX, moderate biases ----
 *
 * The input offset and the bias are folded into each channel's starting value:
 *   bias[o] + sum_k (x_k + input_offset) * w_k = init[o] + sum_k x_k * w_k,
 *   init[o] = bias[o] + input_offset * sum_k w[o,k]      (once per call and channel).
 * A padding tap must add nothing, so it holds the raw value -input_offset (then
 * x + input_offset == 0); with input_offset in [-127, 128] that is in [-128, 127].
 *
 * Output pixels are taken two at a time (in N*OH*OW order): each one's patch -- the K
 * inputs under the filter, in the filter's OHWI order -- is gathered into the stack
 * buffer (pixel A at patch[0], pixel B at patch[FAST_K_MAX]: a constant distance,
 * so one pointer addresses both), then every pair of output channels runs one 2x2
 * block (2 pixels x 2 channels, 4 accumulators) in which every group of 4 loaded
 * values feeds two dot products (simd_s8.h). An odd last pixel is paired with a copy
 * of itself and an odd last channel with itself (computed twice, stored twice).
 *
 * Overflow: a partial sum of x_k * w_k over any subset of taps is in
 * [-K * 16256, K * 16384] (x, w in [-128, 127]) and input_offset * sum_k w_k in
 * [-K * 16384, K * 16256] (input_offset in [-127, 128]); so every accumulator value
 * init[o] + partial sum is within |bias[o]| + K * 32640. The fast path is taken only
 * when every |bias[o]| <= INT32_MAX - K * 32640 (fast_biases_ok), so no value leaves
 * int32 -- and the exact sum needs no saturation, which makes it equal to the
 * reference's saturating bias add.
 *
 * Stack: 2 * FAST_K_MAX + 4 (patches, +4: gather's word copies may write 3 bytes
 * past a patch) + 4 * CHUNK_O = 512 bytes (the Cortex-M0 has a 2 KB stack).      */
#define FAST_K_MAX 190
#define CHUNK_O 32    /* output channels per pass (their init[] is on the stack) */

/* Everything the fast path's helpers read, fixed for the call. */
typedef struct {
    const mt_conv_shape *s;
    const int32_t *multiplier, *shift;
    const int8_t *in, *filter;
    const int32_t *init;   /* init[i] for channel o0 + i of the current chunk */
    int32_t K, in_size;
    int32_t row;           /* KW*C: the values of one filter row             */
    int32_t row_words;     /* row rounded up to a multiple of 4              */
    int32_t row_stride;    /* dh*W*C: input distance of two filter rows      */
    int32_t span_y, span_x;/* (KH-1)*dh + 1 rows; KW columns when dw == 1, else
                              W + 1 (no window is then one run per row)       */
    int32_t out_off, act_min, act_max;
    int8_t pad;            /* -input_offset, the raw value of a padding tap  */
} fast_conv;

/* 1 if every |bias[o]| <= INT32_MAX - K * 32640 (see Overflow above). */
static int fast_biases_ok(const int32_t *bias, int32_t O, int32_t K)
{
    const int32_t lim = INT32_MAX - K * 32640;   /* K <= FAST_K_MAX: no overflow */
    for (int32_t o = 0; bias && o < O; o++)
        if (bias[o] > lim || bias[o] < -lim)
            return 0;
    return 1;
}

/* n bytes from src to dst, 4 at a time. */
static void copy_s8(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 4; n -= 4, dst += 4, src += 4)
        memcpy(dst, src, 4);
    for (; n > 0; n--)
        *dst++ = *src++;
}

static void fill_s8(int8_t *dst, int8_t v, int32_t n)
{
    for (; n > 0; n--)
        *dst++ = v;
}

/* gather_s8 for a window that touches the padding or is not one run per row:
 * row by row, or tap by tap (C values each), padding taps set to f->pad.        */
static MT_NOINLINE void gather_edge_s8(const fast_conv *f, int32_t base, int32_t iy0,
                                       int32_t ix0, int8_t *p)
{
    const mt_conv_shape *s = f->s;
    const int32_t C = s->C, row = f->row;
    const int run = s->dw == 1 && ix0 >= 0 && ix0 + f->span_x <= s->W;
    for (int32_t ky = 0; ky < s->KH; ky++, p += row) {
        const int32_t iy = iy0 + ky * s->dh;
        const int8_t *x = f->in + base + (ky * s->dh * s->W - ix0) * C;   /* (iy, 0) */
        if (iy < 0 || iy >= s->H) {
            fill_s8(p, f->pad, row);
        } else if (run) {
            copy_s8(p, x + ix0 * C, row);
        } else {
            for (int32_t kx = 0; kx < s->KW; kx++) {
                const int32_t ix = ix0 + kx * s->dw;
                if (ix < 0 || ix >= s->W)
                    fill_s8(p + kx * C, f->pad, C);
                else
                    copy_s8(p + kx * C, x + ix * C, C);
            }
        }
    }
}

/* The K = KH*KW*C patch of output pixel (n, oy, ox), OHWI order, padding taps set
 * to f->pad. A filter row (KW*C values) is one contiguous input run when it lies
 * wholly inside the input and dw == 1. When all KH rows are such runs (the interior)
 * they are copied in whole words, rounded up: up to 3 bytes more are read (only
 * while they lie inside the input; the last rows may be copied exactly) and written
 * (into the next row, rewritten next, or past the patch, into the buffer's slack). */
static void gather_s8(const fast_conv *f, int32_t n, int32_t oy, int32_t ox, int8_t *p)
{
    const mt_conv_shape *s = f->s;
    const int32_t ix0 = ox * s->sw - s->pl, iy0 = oy * s->sh - s->pt;
    const int32_t base = ((n * s->H + iy0) * s->W + ix0) * s->C;   /* input offset of (iy0, ix0) */
    if (!(ix0 >= 0 && ix0 + f->span_x <= s->W && iy0 >= 0 && iy0 + f->span_y <= s->H)) {
        gather_edge_s8(f, base, iy0, ix0, p);
        return;
    }
    const int32_t row = f->row, words = f->row_words, stride = f->row_stride;
    /* the first rows whose rounded-up read stays inside the input: whole words */
    int32_t ky = s->KH;
    if (base + (ky - 1) * stride + words > f->in_size)
        for (ky = 0; base + ky * stride + words <= f->in_size; ky++)
            ;
    const int8_t *src = f->in + base;
    if (words == 8) {   /* short rows (KW*C = 5 .. 8, as LeNet-5's conv1): two words */
        for (int32_t r = ky; r > 0; r--, p += row, src += stride) {
            memcpy(p, src, 4);
            memcpy(p + 4, src + 4, 4);
        }
    } else {
        for (int32_t r = ky; r > 0; r--, p += row, src += stride) {
            const int8_t *a = src;
            int8_t *b = p, *const b_end = p + words;
            do {
                memcpy(b, a, 4);
                a += 4, b += 4;
            } while (b != b_end);
        }
    }
    for (; ky < s->KH; ky++, p += row, src += stride)
        copy_s8(p, src, row);
}

/* Output stage of channel o for pixels A, B: ya[o], yb[o] from accumulators a, b
 * (mt_out_prepare/mt_out_apply written out, so that GCC keeps it in registers). */
static inline void store_pair_s8(const fast_conv *f, int32_t o, int32_t a, int32_t b,
                                 int8_t *ya, int8_t *yb)
{
    const int32_t shift = f->shift[o], m = f->multiplier[o];
    const int32_t lo = f->act_min, hi = f->act_max;
    if (shift > -2) {   /* a scale >= 1/2: the general rule */
        ya[o] = mt_out_general(a, m, shift, f->out_off, lo, hi);
        yb[o] = mt_out_general(b, m, shift, f->out_off, lo, hi);
        return;
    }
    /* simd_s8.h: the rule for j = -1 - shift >= 1 */
    const int32_t j = -1 - shift;
    const uint32_t round = (UINT32_C(1) << 30) + (UINT32_C(1) << (j - 1));
    const int32_t offset = f->out_off - (int32_t)(UINT32_C(0x40000000) >> j);
    int32_t u = (int32_t)((mt_mul_hi(a, m) + round) >> j) + offset;
    int32_t v = (int32_t)((mt_mul_hi(b, m) + round) >> j) + offset;
    if (lo == -128 && hi == 127) {   /* no fused activation: one saturation */
        u = mt_sat_s8(u);
        v = mt_sat_s8(v);
    } else {
        u = u < lo ? lo : (u > hi ? hi : u);
        v = v < lo ? lo : (v > hi ? hi : v);
    }
    ya[o] = (int8_t)u;
    yb[o] = (int8_t)v;
}

/* One group of 4 taps x 2 pixels x 2 channels in asm (the loop below runs it twice per iteration). */
#define BLOCK_2X2_GROUP \
    "ldr    %[t1], [%[p]], #4\n\t"                /* A raw                  */ \
    "ldr    %[t0], [%[p], %[boff]]\n\t"           /* B raw                  */ \
    "ldr    %[t3], [%[w]], #4\n\t"                /* w0 raw                 */ \
    "sxtb16 %[t4], %[t3]\n\t"                     /* w0 (0, 2)              */ \
    "sxtb16 %[t3], %[t3], ror #8\n\t"             /* w0 (1, 3)              */ \
    "sxtb16 %[t5], %[t1]\n\t"                     /* A (0, 2)               */ \
    "sxtb16 %[t1], %[t1], ror #8\n\t"             /* A (1, 3)               */ \
    "smlad  %[a0], %[t5], %[t4], %[a0]\n\t"                                    \
    "smlad  %[a0], %[t1], %[t3], %[a0]\n\t"                                    \
    "sxtb16 %[t2], %[t0]\n\t"                     /* B (0, 2)               */ \
    "sxtb16 %[t0], %[t0], ror #8\n\t"             /* B (1, 3)               */ \
    "smlad  %[b0], %[t2], %[t4], %[b0]\n\t"                                    \
    "smlad  %[b0], %[t0], %[t3], %[b0]\n\t"                                    \
    "ldr    %[t3], [%[w], %[d]]\n\t"              /* w1 raw                 */ \
    "sxtb16 %[t4], %[t3]\n\t"                                                  \
    "sxtb16 %[t3], %[t3], ror #8\n\t"                                          \
    "smlad  %[a1], %[t5], %[t4], %[a1]\n\t"                                    \
    "smlad  %[a1], %[t1], %[t3], %[a1]\n\t"                                    \
    "smlad  %[b1], %[t2], %[t4], %[b1]\n\t"                                    \
    "smlad  %[b1], %[t0], %[t3], %[b1]\n\t"

/* Every channel pair of the chunk (o0 .. o0 + oc - 1) for the pixel pair in the patch
 * buffer x: 2x2 blocks with patches A = x[0..K), B = x[FAST_K_MAX..), channels
 * o = o0 + i and o + d (d = 1, or 0 for an odd last channel), filter rows
 * w0 = w[o], w1 = w[o + d]:
 *   acc = init + (A . w0, A . w1, B . w0, B . w1)
 * then ya[o], ya[o + d], yb[o], yb[o + d] = output stage of acc.              */
static MT_NOINLINE void blocks_2x2_s8(const fast_conv *f, const int8_t *x, int32_t o0,
                                      int32_t oc, int8_t *ya, int8_t *yb)
{
    const int32_t K = f->K;
    for (int32_t i = 0; i < oc; i += 2) {
        const int32_t d = i + 1 < oc, dw1 = d * K;
        const int8_t *p = x, *w = f->filter + (o0 + i) * K;
        const int8_t *const end = x + (K & ~3);
        int32_t a0 = f->init[i], a1 = f->init[i + d], b0 = a0, b1 = a1;
#ifdef MT_S8_ARM_DSP
        /* The C loop below in assembly: the same instructions GCC emits for it, but
         * in the 14 allocatable registers (4 accumulators, 4 pointers/limits, 6
         * temporaries) where GCC spills; 20 instructions per 16 MACs (unrolled x2). */
        if (p != end) {
            uint32_t t0, t1, t2, t3, t4, t5;
            const int32_t dw1_post = dw1 - 4;   /* w1 relative to w after its post-increment */
            __asm__(
                /* two groups per iteration; an odd count enters at the second */
                "sub    %[t0], %[end], %[p]\n\t"
                "tst    %[t0], #4\n\t"
                "bne    2f\n\t"
                "1:\n\t"
                BLOCK_2X2_GROUP
                "2:\n\t"
                BLOCK_2X2_GROUP
                "cmp    %[p], %[end]\n\t"
                "bne    1b\n\t"
                : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [p] "+r"(p),
                  [w] "+r"(w), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2),
                  [t3] "=&r"(t3), [t4] "=&r"(t4), [t5] "=&r"(t5)
                : [d] "r"(dw1_post), [end] "r"(end), [boff] "I"(FAST_K_MAX - 4)
                : "cc", "memory");
        }
#else
        for (; p != end; p += 4, w += 4) {
            const mt_s8x4 u = mt_load_s8x4(p), v = mt_load_s8x4(p + FAST_K_MAX);
            mt_s8x4 g = mt_load_s8x4(w);
            a0 = mt_dot_s8x4(a0, u, g);
            b0 = mt_dot_s8x4(b0, v, g);
            g = mt_load_s8x4(w + dw1);
            a1 = mt_dot_s8x4(a1, u, g);
            b1 = mt_dot_s8x4(b1, v, g);
        }
#endif
        for (int32_t k = 0; k < (K & 3); k++) {
            const int32_t u = p[k], v = p[k + FAST_K_MAX], g0 = w[k], g1 = w[k + dw1];
            a0 += u * g0;
            a1 += u * g1;
            b0 += v * g0;
            b1 += v * g1;
        }
        store_pair_s8(f, o0 + i, a0, b0, ya, yb);
        store_pair_s8(f, o0 + i + d, a1, b1, ya, yb);
    }
}

/* init[i] = bias[o0 + i] + input_offset * sum_k w[o0 + i, k] for count channels
 * (|.| <= |bias| + 16384 * K, in int32 by fast_biases_ok). */
static void fast_init_s8(const int8_t *w, const int32_t *bias, int32_t K, int32_t count,
                         int32_t in_off, int32_t *init)
{
    for (int32_t i = 0; i < count; i++, w += K) {
        uint32_t biased = 0;   /* sum of (w + 128) over the groups of 4: < 2^32 */
        int32_t k = 0;
        for (; k + 4 <= K; k += 4)
            biased = mt_sum_biased_s8x4(biased, w + k);
        int32_t sum = (int32_t)biased - 128 * k;
        for (; k < K; k++)
            sum += w[k];
        init[i] = (bias ? bias[i] : 0) + in_off * sum;
    }
}

/* The next output pixel in (n, oy, ox) order. */
static void next_pixel(const mt_conv_shape *s, int32_t *n, int32_t *oy, int32_t *ox)
{
    if (++*ox == s->OW) {
        *ox = 0;
        if (++*oy == s->OH) {
            *oy = 0;
            ++*n;
        }
    }
}

static void conv_s8_fast(const mt_conv_shape *s, const mt_s8_io *io, const mt_requant *quant,
                         const int8_t *in, const int8_t *filter, const int32_t *bias, int8_t *out)
{
    int8_t patch[2 * FAST_K_MAX + 4];
    int32_t init[CHUNK_O];
    const int32_t O = s->O, P = s->N * s->OH * s->OW;
    const int32_t row = s->KW * s->C;
    const fast_conv f = { s, quant->multiplier, quant->shift, in, filter, init,
                          s->KH * row, s->N * s->H * s->W * s->C, row, (row + 3) & ~3,
                          s->dh * s->W * s->C, (s->KH - 1) * s->dh + 1, s->dw == 1 ? s->KW : s->W + 1,
                          io->output_offset, io->act_min, io->act_max,
                          (int8_t)(-io->input_offset) };
    for (int32_t o0 = 0; o0 < O; o0 += CHUNK_O) {
        const int32_t oc = O - o0 < CHUNK_O ? O - o0 : CHUNK_O;
        fast_init_s8(filter + o0 * f.K, bias ? bias + o0 : NULL, f.K, oc, io->input_offset,
                     init);
        int32_t n = 0, oy = 0, ox = 0;
        for (int32_t p = 0; p < P; p += 2) {
            int8_t *const ya = out + p * O, *yb = ya;
            gather_s8(&f, n, oy, ox, patch);
            next_pixel(s, &n, &oy, &ox);
            if (p + 1 < P) {
                gather_s8(&f, n, oy, ox, patch + FAST_K_MAX);
                next_pixel(s, &n, &oy, &ox);
                yb = ya + O;
            } else {
                copy_s8(patch + FAST_K_MAX, patch, f.K);
            }
            blocks_2x2_s8(&f, patch, o0, oc, ya, yb);
        }
    }
}

/* Any geometry: the direct loop over taps, skipping padding. */
static void conv_s8_direct(const mt_conv_shape *s, const mt_s8_io *io, const mt_requant *quant,
                           const int8_t *in, const int8_t *filter, const int32_t *bias, int8_t *out)
{
    const int32_t in_off = io->input_offset;
    for (int32_t n = 0; n < s->N; n++) {
        const int8_t *x_n = in + n * s->H * s->W * s->C;
        for (int32_t oy = 0; oy < s->OH; oy++) {
            for (int32_t ox = 0; ox < s->OW; ox++) {
                int8_t *y = out + ((n * s->OH + oy) * s->OW + ox) * s->O;
                for (int32_t o = 0; o < s->O; o++) {
                    const int32_t c0 = (o / s->OG) * s->CG;   /* first input channel of o's group */
                    int32_t sum = 0;
                    for (int32_t ky = 0; ky < s->KH; ky++) {
                        const int32_t iy = oy * s->sh - s->pt + ky * s->dh;
                        if (iy < 0 || iy >= s->H)
                            continue;
                        for (int32_t kx = 0; kx < s->KW; kx++) {
                            const int32_t ix = ox * s->sw - s->pl + kx * s->dw;
                            if (ix < 0 || ix >= s->W)
                                continue;
                            const int8_t *x = x_n + (iy * s->W + ix) * s->C + c0;
                            const int8_t *w = filter + ((o * s->KH + ky) * s->KW + kx) * s->CG;
                            for (int32_t i = 0; i < s->CG; i++)
                                sum += ((int32_t)x[i] + in_off) * (int32_t)w[i];
                        }
                    }
                    y[o] = conv_s8_output(sum, bias, o, quant, io);
                }
            }
        }
    }
}

/* in (N,H,W,C), filter (O,KH,KW,CG), bias (O,) or NULL -> out (N,OH,OW,O).
 * Status order: NULL pointers, io/geometry (ARG), dims (SHAPE), a reduction
 * KH*KW*CG > 65536 (UNSUPPORTED), then the O multipliers/shifts (ARG).        */
mt_status mt_conv2d_s8(const mt_conv_params *params, const mt_s8_io *io, const mt_requant *quant,
                       const mt_dims *in_dims, const int8_t *in,
                       const mt_dims *filter_dims, const int8_t *filter,
                       const int32_t *bias,
                       const mt_dims *out_dims, int8_t *out)
{
    MT_CHECK(params && io && quant && quant->multiplier && quant->shift &&
             in_dims && in && filter_dims && filter && out_dims && out, MT_ERR_NULL);
    MT_CHECK(mt_s8_io_ok(io), MT_ERR_ARG);
    mt_conv_shape s;
    mt_status status = mt_conv_geometry(params, in_dims, filter_dims, out_dims, &s);
    if (status != MT_OK)
        return status;
    /* filter dims passed mt_dims_ok, so KH*KW*CG fits in int32. */
    MT_CHECK(filter_dims->h * filter_dims->w * filter_dims->c <= MT_S8_MAX_REDUCTION,
             MT_ERR_UNSUPPORTED);
    MT_CHECK(mt_requant_ok(quant->multiplier, quant->shift, out_dims->c), MT_ERR_ARG);

    if (params->groups == 1 && s.KH * s.KW * s.C <= FAST_K_MAX &&
        fast_biases_ok(bias, s.O, s.KH * s.KW * s.C))
        conv_s8_fast(&s, io, quant, in, filter, bias, out);
    else
        conv_s8_direct(&s, io, quant, in, filter, bias, out);
    return MT_OK;
}
