/* conv2d_f32.c - 2-D convolution, float32, forward (backward: conv2d_f32_backward.c).
 *
 * Activations are NHWC, filters OHWI = (O, KH, KW, CG) with CG = C / groups
 * input channels per group. Output channel o belongs to group g = o / OG
 * (OG = O / groups) and reads input channels g*CG .. g*CG + CG - 1; groups == C
 * is depthwise, O = k*C with groups == C a depthwise channel multiplier.
 * Input tap of output (oy, ox) and kernel tap (ky, kx):
 *   iy = oy*sh - pt + ky*dh,  ix = ox*sw - pl + kx*dw   (outside the input = zero padding)
 *
 * Summation order (every path): sum = b[o], then the taps in filter order
 * ky, kx, i, each added as sum += x*w; taps in the padding are skipped. The
 * blocked fast path and the direct reference loop therefore give bit-identical
 * results, and host and board agree (mt_mla_f32 is an unfused multiply-add).
 */
#include <math.h>
#include <stdint.h>
#include "mt/mt.h"
#include "../support/check.h"
#include "../support/geometry.h"
#include "../support/mla_f32.h"
#include "../support/f32_reference.h"

static float clamp_f32(float v, const mt_range_f32 *act)
{
    return act ? (v < act->lo ? act->lo : (v > act->hi ? act->hi : v)) : v;
}

/* ---- reference: the direct loop, any geometry ------------------------------- */

/* One output pixel y[0..O) of image x_n, every channel, skipping padding taps. */
static void conv_pixel_direct(const mt_conv_shape *s, const float *x_n, int32_t oy, int32_t ox,
                              const float *filter, const float *bias,
                              const mt_range_f32 *act, float *y)
{
    for (int32_t o = 0; o < s->O; o++) {
        const int32_t c0 = (o / s->OG) * s->CG;   /* first input channel of o's group */
        float sum = bias ? bias[o] : 0.0f;
        for (int32_t ky = 0; ky < s->KH; ky++) {
            const int32_t iy = oy * s->sh - s->pt + ky * s->dh;
            if (iy < 0 || iy >= s->H)
                continue;
            for (int32_t kx = 0; kx < s->KW; kx++) {
                const int32_t ix = ox * s->sw - s->pl + kx * s->dw;
                if (ix < 0 || ix >= s->W)
                    continue;
                const float *x = x_n + (iy * s->W + ix) * s->C + c0;
                const float *w = filter + ((o * s->KH + ky) * s->KW + kx) * s->CG;
                for (int32_t i = 0; i < s->CG; i++)
                    sum += x[i] * w[i];
            }
        }
        y[o] = clamp_f32(sum, act);
    }
}

static void conv_forward_direct(const mt_conv_shape *s, const float *in, const float *filter,
                                const float *bias, const mt_range_f32 *act, float *out)
{
    for (int32_t n = 0; n < s->N; n++) {
        const float *x_n = in + n * s->H * s->W * s->C;
        for (int32_t oy = 0; oy < s->OH; oy++)
            for (int32_t ox = 0; ox < s->OW; ox++)
                conv_pixel_direct(s, x_n, oy, ox, filter, bias, act,
                                  out + ((n * s->OH + oy) * s->OW + ox) * s->O);
    }
}

/* ---- fast path: groups == 1, dw == 1 ------------------------------------------
 * With one group and unit column dilation, the taps of filter row ky are one
 * contiguous run of L = KW*C floats in the OHWI filter AND in the NHWC input
 * (from x[iy, ix0, 0]). Output pixels whose window lies wholly inside the input
 * are computed in tiles of TILE_PX pixels x 2 (or 3) output channels: 8 (12)
 * accumulators in FPU registers, so each input value loaded feeds 2 (3)
 * multiply-adds and each weight TILE_PX (about 2 (1.75) instructions per MAC in
 * the inner loop on a Cortex-M4F). The 4 pixels need not be neighbours (each has
 * its own pointer), so a tile may span output rows. A window that reaches past
 * the top or bottom (padding rows) keeps its inside rows ky0 .. ky1 - 1: still
 * one run per row in input and filter, so it goes through the same tiles (with
 * KH = ky1 - ky0, from filter row ky0), its pixels grouped with others of the
 * same row range. A window that reaches past the left or right edge uses
 * conv_pixel_clipped (below): one pixel x 4 channels over the clipped runs.
 * Either way only the inside taps are added, in filter order, as the
 * reference does (the padding taps add no term at all, not a zero product). */
#define TILE_PX 4

/* conv_block stays out of line: inlined into its caller, GCC's register
 * allocation of the tile loops gets worse (extra moves in the inner loop). */
#if defined(__GNUC__)
#define F32_NOINLINE __attribute__((noinline))
#else
#define F32_NOINLINE
#endif

/* The fused activation as a plain [lo, hi]: v = max(v, lo), then min(v, hi).
 * No act is [-inf, inf]. A bound at -inf / +inf never changes a value (NaN
 * included), so the tile skips it: `bounds` has CLAMP_LO / CLAMP_HI set for the
 * finite ones (ReLU needs only the lower compare).                          */
#define CLAMP_LO 1
#define CLAMP_HI 2

/* For p < 4, with x[p] the first input of pixel p's window and y[p] its output:
 *   y[p][o]  = clamp( b[o]  + sum_{ky, j} x[p][ky*(L+row_skip) + j] * w0[ky*L + j] )
 *   y[p][o1] = the same with b[o1] and w1,
 * j < L in order. row_skip = dh*W*C - L floats from the end of one window row
 * to the start of the next. Repeated pixels (y[p] == y[q]) or o1 == o (w1 == w0)
 * compute equal values, so the duplicate stores are harmless.               */
static void conv_tile_4x2(const float *const x[TILE_PX], float *const y[TILE_PX],
                          int32_t o, int32_t o1, const float *w0, const float *w1,
                          float b0, float b1, int32_t KH, int32_t L, int32_t row_skip,
                          int bounds, float lo, float hi)
{
    float s0 = b0, s1 = b0, s2 = b0, s3 = b0;   /* channel o,  pixels 0..3 */
    float t0 = b1, t1 = b1, t2 = b1, t3 = b1;   /* channel o1, pixels 0..3 */
    const float *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3];
    int32_t ky = KH;
    do {
        int32_t j = L;
        do {
            const float u = *w0++, v = *w1++;
            const float a = *x0++, b = *x1++, c = *x2++, d = *x3++;
            s0 = mt_mla_f32(s0, a, u);
            s1 = mt_mla_f32(s1, b, u);
            s2 = mt_mla_f32(s2, c, u);
            s3 = mt_mla_f32(s3, d, u);
            t0 = mt_mla_f32(t0, a, v);
            t1 = mt_mla_f32(t1, b, v);
            t2 = mt_mla_f32(t2, c, v);
            t3 = mt_mla_f32(t3, d, v);
            MT_OPAQUE_PTR(x0);
            MT_OPAQUE_PTR(x1);
            MT_OPAQUE_PTR(x2);
            MT_OPAQUE_PTR(x3);
            MT_OPAQUE_PTR(w0);
            MT_OPAQUE_PTR(w1);
        } while (--j);
        x0 += row_skip;
        x1 += row_skip;
        x2 += row_skip;
        x3 += row_skip;
    } while (--ky);
    if (bounds & CLAMP_LO) {
        s0 = s0 < lo ? lo : s0;
        s1 = s1 < lo ? lo : s1;
        s2 = s2 < lo ? lo : s2;
        s3 = s3 < lo ? lo : s3;
        t0 = t0 < lo ? lo : t0;
        t1 = t1 < lo ? lo : t1;
        t2 = t2 < lo ? lo : t2;
        t3 = t3 < lo ? lo : t3;
    }
    if (bounds & CLAMP_HI) {
        s0 = s0 > hi ? hi : s0;
        s1 = s1 > hi ? hi : s1;
        s2 = s2 > hi ? hi : s2;
        s3 = s3 > hi ? hi : s3;
        t0 = t0 > hi ? hi : t0;
        t1 = t1 > hi ? hi : t1;
        t2 = t2 > hi ? hi : t2;
        t3 = t3 > hi ? hi : t3;
    }
    y[0][o] = s0;
    y[1][o] = s1;
    y[2][o] = s2;
    y[3][o] = s3;
    y[0][o1] = t0;
    y[1][o1] = t1;
    y[2][o1] = t2;
    y[3][o1] = t3;
}

/* conv_tile_4x2 with three channels o, o1, o2 (weights w0, w1, w2): 12
 * accumulators, 7 loads per 12 multiply-adds. Used when O is a multiple of 3
 * (LeNet-5's conv1: C = 1, so a window row is only KW floats and the per-row
 * and per-tile costs weigh more; a third channel spreads them).           */
static void conv_tile_4x3(const float *const x[TILE_PX], float *const y[TILE_PX],
                          int32_t o, const float *w0, const float *w1, const float *w2,
                          const float *b, int32_t KH, int32_t L, int32_t row_skip,
                          int bounds, float lo, float hi)
{
    float s0 = b[0], s1 = b[0], s2 = b[0], s3 = b[0];   /* channel o     */
    float t0 = b[1], t1 = b[1], t2 = b[1], t3 = b[1];   /* channel o + 1 */
    float r0 = b[2], r1 = b[2], r2 = b[2], r3 = b[2];   /* channel o + 2 */
    const float *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3];
    int32_t ky = KH;
    do {
        int32_t j = L;
        do {
            const float u = *w0++, v = *w1++, q = *w2++;
            const float a = *x0++, b_ = *x1++, c = *x2++, d = *x3++;
            s0 = mt_mla_f32(s0, a, u);
            s1 = mt_mla_f32(s1, b_, u);
            s2 = mt_mla_f32(s2, c, u);
            s3 = mt_mla_f32(s3, d, u);
            t0 = mt_mla_f32(t0, a, v);
            t1 = mt_mla_f32(t1, b_, v);
            t2 = mt_mla_f32(t2, c, v);
            t3 = mt_mla_f32(t3, d, v);
            r0 = mt_mla_f32(r0, a, q);
            r1 = mt_mla_f32(r1, b_, q);
            r2 = mt_mla_f32(r2, c, q);
            r3 = mt_mla_f32(r3, d, q);
            MT_OPAQUE_PTR(x0);
            MT_OPAQUE_PTR(x1);
            MT_OPAQUE_PTR(x2);
            MT_OPAQUE_PTR(x3);
        } while (--j);
        x0 += row_skip;
        x1 += row_skip;
        x2 += row_skip;
        x3 += row_skip;
    } while (--ky);
    if (bounds & CLAMP_LO) {
        s0 = s0 < lo ? lo : s0;
        s1 = s1 < lo ? lo : s1;
        s2 = s2 < lo ? lo : s2;
        s3 = s3 < lo ? lo : s3;
        t0 = t0 < lo ? lo : t0;
        t1 = t1 < lo ? lo : t1;
        t2 = t2 < lo ? lo : t2;
        t3 = t3 < lo ? lo : t3;
        r0 = r0 < lo ? lo : r0;
        r1 = r1 < lo ? lo : r1;
        r2 = r2 < lo ? lo : r2;
        r3 = r3 < lo ? lo : r3;
    }
    if (bounds & CLAMP_HI) {
        s0 = s0 > hi ? hi : s0;
        s1 = s1 > hi ? hi : s1;
        s2 = s2 > hi ? hi : s2;
        s3 = s3 > hi ? hi : s3;
        t0 = t0 > hi ? hi : t0;
        t1 = t1 > hi ? hi : t1;
        t2 = t2 > hi ? hi : t2;
        t3 = t3 > hi ? hi : t3;
        r0 = r0 > hi ? hi : r0;
        r1 = r1 > hi ? hi : r1;
        r2 = r2 > hi ? hi : r2;
        r3 = r3 > hi ? hi : r3;
    }
    y[0][o] = s0;
    y[1][o] = s1;
    y[2][o] = s2;
    y[3][o] = s3;
    y[0][o + 1] = t0;
    y[1][o + 1] = t1;
    y[2][o + 1] = t2;
    y[3][o + 1] = t3;
    y[0][o + 2] = r0;
    y[1][o + 2] = r1;
    y[2][o + 2] = r2;
    y[3][o + 2] = r3;
}

/* Every output channel of `count` (1..TILE_PX) pixels whose window columns lie
 * inside the input and whose window rows ky0 .. ky0 + kh - 1 are the ones inside
 * (the same for all of them): window starts x[p] (at row ky0), outputs y[p] (O
 * floats each); filter = the filter + ky0*KW*C (filter rows ky0.. of channel 0;
 * those rows are contiguous in OHWI, so the skipped rows just shorten the run).
 * Unused slots repeat the last pixel and an odd last channel is computed twice
 * (see conv_tile_4x2). Channels go three at a time when O is a multiple of 3,
 * else two at a time.                                                       */
static F32_NOINLINE void conv_block(const mt_conv_shape *s, const float *x[TILE_PX],
                                    float *y[TILE_PX], int32_t count, int32_t kh,
                                    const float *filter, const float *bias,
                                    int bounds, float lo, float hi)
{
    const int32_t L = s->KW * s->C, K = s->KH * L;
    const int32_t row_skip = s->dh * s->W * s->C - L;
    for (int32_t p = count; p < TILE_PX; p++) {
        x[p] = x[count - 1];
        y[p] = y[count - 1];
    }
    if (s->O % 3 == 0) {
        for (int32_t o = 0; o < s->O; o += 3) {
            const float zero[3] = { 0.0f, 0.0f, 0.0f };
            conv_tile_4x3(x, y, o, filter + o * K, filter + (o + 1) * K, filter + (o + 2) * K,
                          bias ? bias + o : zero, kh, L, row_skip, bounds, lo, hi);
        }
        return;
    }
    for (int32_t o = 0; o < s->O; o += 2) {
        const int32_t o1 = o + 1 < s->O ? o + 1 : o;
        conv_tile_4x2(x, y, o, o1, filter + o * K, filter + o1 * K,
                      bias ? bias[o] : 0.0f, bias ? bias[o1] : 0.0f,
                      kh, L, row_skip, bounds, lo, hi);
    }
}

/* One output pixel whose window is clipped by the padding: only the taps of rows
 * ky0 .. ky0 + kh - 1 and columns kx0 .. kx0 + kw - 1 lie inside the input (kh,
 * kw >= 1). x = the input at (iy0 + ky0*dh, ix0 + kx0); each window row is a run
 * of R = kw*C floats, in the filter from w[ky][kx0] on. Channels go four at a
 * time (o, o+1, o+2, o+3 clipped to O - 1: a repeated last channel is computed and
 * stored twice), so each input value loaded feeds four multiply-adds:
 *   y[o] = clamp( b[o] + sum_{rows, j < R} x[row*(dh*W*C) + j] * w[o][ky0+row][kx0*C + j] )
 * the taps in the reference's order, padding taps skipped (no term added).    */
static void conv_pixel_clipped(const mt_conv_shape *s, const float *x, float *y,
                               int32_t ky0, int32_t kh, int32_t kx0, int32_t kw,
                               const float *filter, const float *bias, const mt_range_f32 *act)
{
    const int32_t L = s->KW * s->C, K = s->KH * L, R = kw * s->C;
    const int32_t x_skip = s->dh * s->W * s->C - R, w_skip = L - R;
    const float *const w_start = filter + ky0 * L + kx0 * s->C;
    for (int32_t o = 0; o < s->O; o += 4) {
        const int32_t o1 = o + 1 < s->O ? o + 1 : o, o2 = o + 2 < s->O ? o + 2 : o1;
        const int32_t o3 = o + 3 < s->O ? o + 3 : o2;
        float s0 = bias ? bias[o] : 0.0f, s1 = bias ? bias[o1] : 0.0f;
        float s2 = bias ? bias[o2] : 0.0f, s3 = bias ? bias[o3] : 0.0f;
        const float *w0 = w_start + o * K, *w1 = w_start + o1 * K;
        const float *w2 = w_start + o2 * K, *w3 = w_start + o3 * K;
        const float *xp = x;
        int32_t r = kh;
        do {
            int32_t j = R;
            do {
                const float a = *xp++;
                s0 = mt_mla_f32(s0, a, *w0++);
                s1 = mt_mla_f32(s1, a, *w1++);
                s2 = mt_mla_f32(s2, a, *w2++);
                s3 = mt_mla_f32(s3, a, *w3++);
            } while (--j);
            xp += x_skip;
            w0 += w_skip;
            w1 += w_skip;
            w2 += w_skip;
            w3 += w_skip;
        } while (--r);
        y[o] = clamp_f32(s0, act);
        y[o1] = clamp_f32(s1, act);
        y[o2] = clamp_f32(s2, act);
        y[o3] = clamp_f32(s3, act);
    }
}

/* The pending tile of conv_forward_fast: up to TILE_PX pixels (window starts x[],
 * outputs y[]) that share the window row range ky0 .. ky0 + kh - 1, and what
 * conv_block needs besides.                                                 */
typedef struct {
    const mt_conv_shape *s;
    const float *filter, *bias;
    int bounds;
    float lo, hi;
    const float *x[TILE_PX];
    float *y[TILE_PX];
    int32_t count, ky0, kh;   /* the pending tile: its pixels and their row range */
} conv_tiler;

/* Compute the pending tile (if any). */
static void tiler_flush(conv_tiler *t)
{
    if (t->count > 0)
        conv_block(t->s, t->x, t->y, t->count, t->kh, t->filter + t->ky0 * t->s->KW * t->s->C,
                   t->bias, t->bounds, t->lo, t->hi);
    t->count = 0;
}

/* Every pixel: those whose window columns lie inside the input go through the
 * tiles (4 at a time; rows clipped to the ones inside, the pixels of a tile
 * sharing that row range), those with clipped columns through
 * conv_pixel_clipped, and a window wholly in the padding (no tap) through the
 * direct loop. On a row, the pixels with whole columns are ox in [ox_lo, ox_hi).*/
static void conv_forward_fast(const mt_conv_shape *s, const float *in, const float *filter,
                              const float *bias, const mt_range_f32 *act, float *out)
{
    conv_tiler t;
    t.s = s;
    t.filter = filter;
    t.bias = bias;
    t.lo = act ? act->lo : -INFINITY;
    t.hi = act ? act->hi : INFINITY;
    t.bounds = (t.lo > -INFINITY ? CLAMP_LO : 0) | (t.hi < INFINITY ? CLAMP_HI : 0);
    t.count = t.ky0 = t.kh = 0;
    int32_t ox_lo = 0, ox_hi = s->OW;
    while (ox_lo < s->OW && ox_lo * s->sw - s->pl < 0)
        ox_lo++;
    while (ox_hi > ox_lo && (ox_hi - 1) * s->sw - s->pl + s->KW > s->W)
        ox_hi--;
    const int32_t step = s->sw * s->C;   /* input distance of neighbouring pixels */
    for (int32_t n = 0; n < s->N; n++) {
        const float *x_n = in + n * s->H * s->W * s->C;
        for (int32_t oy = 0; oy < s->OH; oy++) {
            const int32_t iy = oy * s->sh - s->pt;
            float *y_row = out + (n * s->OH + oy) * s->OW * s->O;
            /* the window rows inside the input: ky0 .. ky1 - 1 (a contiguous range) */
            int32_t ky0 = 0, ky1 = s->KH;
            while (ky0 < s->KH && iy + ky0 * s->dh < 0)
                ky0++;
            while (ky1 > ky0 && iy + (ky1 - 1) * s->dh >= s->H)
                ky1--;
            const int32_t kh = ky1 - ky0;
            if (kh <= 0) {   /* the window reads only padding */
                for (int32_t ox = 0; ox < s->OW; ox++)
                    conv_pixel_direct(s, x_n, oy, ox, filter, bias, act, y_row + ox * s->O);
                continue;
            }
            const float *x_row = x_n + (iy + ky0 * s->dh) * s->W * s->C;   /* column 0 */
            for (int32_t ox = 0; ox < s->OW; ox++) {
                if (ox == ox_lo) {   /* the whole-column pixels, into tiles */
                    if (t.ky0 != ky0 || t.kh != kh) {
                        tiler_flush(&t);
                        t.ky0 = ky0;
                        t.kh = kh;
                    }
                    const float *xp = x_row + (ox_lo * s->sw - s->pl) * s->C;
                    for (; ox < ox_hi; ox++, xp += step) {
                        t.x[t.count] = xp;
                        t.y[t.count] = y_row + ox * s->O;
                        if (++t.count == TILE_PX) {
                            conv_block(s, t.x, t.y, TILE_PX, kh, filter + ky0 * s->KW * s->C,
                                       bias, t.bounds, t.lo, t.hi);
                            t.count = 0;
                        }
                    }
                    if (ox == s->OW)
                        break;
                }
                const int32_t ix = ox * s->sw - s->pl;
                const int32_t kx0 = ix < 0 ? -ix : 0;
                const int32_t kx1 = ix + s->KW > s->W ? s->W - ix : s->KW;
                if (kx1 <= kx0)
                    conv_pixel_direct(s, x_n, oy, ox, filter, bias, act, y_row + ox * s->O);
                else
                    conv_pixel_clipped(s, x_row + (ix + kx0) * s->C, y_row + ox * s->O, ky0, kh,
                                       kx0, kx1 - kx0, filter, bias, act);
            }
        }
    }
    tiler_flush(&t);
}

static mt_status conv_check(const mt_conv_params *params, const mt_range_f32 *act,
                            const mt_dims *in_dims, const float *in,
                            const mt_dims *filter_dims, const float *filter,
                            const mt_dims *out_dims, float *out, mt_conv_shape *s)
{
    MT_CHECK(params && in_dims && in && filter_dims && filter && out_dims && out,
             MT_ERR_NULL);
    MT_CHECK(!act || act->lo <= act->hi, MT_ERR_ARG);
    return mt_conv_geometry(params, in_dims, filter_dims, out_dims, s);
}

/* in (N,H,W,C), filter (O,KH,KW,CG), bias (O,) or NULL -> out (N,OH,OW,O):
 *   y[n,oy,ox,o] = act( b[o] + sum_{ky,kx,i} x[n,iy,ix,g*CG+i] * w[o,ky,kx,i] ),
 * act = clamp to [act->lo, act->hi], or identity when act is NULL.           */
mt_status mt_conv2d_f32(const mt_conv_params *params, const mt_range_f32 *act,
                        const mt_dims *in_dims, const float *in,
                        const mt_dims *filter_dims, const float *filter,
                        const float *bias,
                        const mt_dims *out_dims, float *out)
{
    mt_conv_shape s;
    mt_status status = conv_check(params, act, in_dims, in, filter_dims, filter,
                                  out_dims, out, &s);
    if (status != MT_OK)
        return status;
    if (params->groups == 1 && s.dw == 1)
        conv_forward_fast(&s, in, filter, bias, act, out);
    else
        conv_forward_direct(&s, in, filter, bias, act, out);
    return MT_OK;
}

/* The same result from the direct loop alone (tests compare the two paths). */
mt_status mt_conv2d_f32_reference(const mt_conv_params *params, const mt_range_f32 *act,
                                  const mt_dims *in_dims, const float *in,
                                  const mt_dims *filter_dims, const float *filter,
                                  const float *bias,
                                  const mt_dims *out_dims, float *out)
{
    mt_conv_shape s;
    mt_status status = conv_check(params, act, in_dims, in, filter_dims, filter,
                                  out_dims, out, &s);
    if (status != MT_OK)
        return status;
    conv_forward_direct(&s, in, filter, bias, act, out);
    return MT_OK;
}
