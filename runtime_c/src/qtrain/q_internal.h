/* q_internal.h - integer helpers of the q-tensor training kernels (internal).
 *
 * Every signed right shift goes through q_floor_shift, which shifts only
 * non-negative values: C leaves >> of a negative number implementation-defined,
 * and the results must be the same bits on every compiler and target. */
#ifndef MT_Q_INTERNAL_H
#define MT_Q_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "mt/mt_q.h"
#include "../support/check.h"

/* The assembly loops of sgd_q.c and the engine's fused linear update: GCC, optimising
 * (-O0 keeps too few registers free for them), on cores with the DSP extension
 * (Cortex-M4/M7/M33). */
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__) && defined(__OPTIMIZE__)
#define Q_DSP_ASM 1
#endif

#define Q_EXP_LIMIT 4096          /* |exponent| accepted from callers             */
#define Q_MAX_TERMS 131071        /* 2^17 - 1 products of |v| <= 2^14 fit int32    */
#define Q_INT8_MAX 127            /* q-tensor values are symmetric: [-127, 127]   */

static inline int q_exp_ok(int32_t e)
{
    return e >= -Q_EXP_LIMIT && e <= Q_EXP_LIMIT;
}

/* floor(v / 2^s) for s >= 0 (s > 62 acts as 62: enough for |v| < 2^62). */
static inline int64_t q_floor_shift(int64_t v, int32_t s)
{
    if (s > 62)
        s = 62;
    return v >= 0 ? v >> s : -1 - ((-1 - v) >> s);
}

/* floor(v / 2^s + 1/2): round to nearest, ties toward +infinity; |v| < 2^62. */
static inline int64_t q_round_shift(int64_t v, int32_t s)
{
    if (s <= 0)
        return v;
    if (s > 62)
        return 0;
    return q_floor_shift(v + ((int64_t)1 << (s - 1)), s);
}

/* v * 2^s for s >= 0, saturated to +-(2^62 - 1) (|v| < 2^62). */
static inline int64_t q_left_shift_sat(int64_t v, int32_t s)
{
    const int64_t lim = ((int64_t)1 << 62) - 1;
    if (v == 0)
        return 0;
    if (s > 62)
        return v > 0 ? lim : -lim;
    if (v > (lim >> s))
        return lim;
    if (v < -(lim >> s))
        return -lim;
    return v * ((int64_t)1 << s);
}

/* v * 2^-s rounded (s > 0) or saturating v * 2^-s (s <= 0), |v| < 2^62. */
static inline int64_t q_rescale(int64_t v, int32_t s)
{
    return s > 0 ? q_round_shift(v, s) : q_left_shift_sat(v, -s);
}

static inline int32_t q_sat32(int64_t v)
{
    return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
}

static inline int64_t q_abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

static inline int32_t q_bitlen64(uint64_t v)
{
    int32_t n = 0;
    while (v) {
        n++;
        v >>= 1;
    }
    return n;
}

/* The dynamic shift of requantization: s = max(0, bitlen(max|v|) - 7). */
static inline int32_t q_dyn_shift(uint64_t max_abs)
{
    int32_t s = q_bitlen64(max_abs) - 7;
    return s > 0 ? s : 0;
}

/* One value of a requantized tensor: round(v / 2^s) clamped to [-127, 127]. */
static inline int8_t q_to_s8(int64_t v, int32_t s)
{
    int64_t r = q_round_shift(v, s);
    return (int8_t)(r > Q_INT8_MAX ? Q_INT8_MAX : r < -Q_INT8_MAX ? -Q_INT8_MAX : r);
}

/* Scratch of at least `bytes`, 4-byte aligned. */
static inline int q_ctx_ok(const mt_q_ctx *ctx, int64_t bytes)
{
    return ctx && ctx->buf && ((uintptr_t)ctx->buf & 3) == 0 && ctx->size >= bytes;
}

/* A dims-like count in int32 elements' bytes, or -1 for bad dims. */
int32_t mt_q_int32_bytes(const mt_dims *d);

/* One xorshift32 step (13, 17, 5; Marsaglia 2003), as mt_q_rand. */
static inline uint32_t q_xorshift32(uint32_t x)
{
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
}

/* |v| as uint32 (2^31 for INT32_MIN). OR-ing these gives the bit length of the
 * maximum: bitlen(a | b) = max(bitlen a, bitlen b), so q_dyn_shift(OR) = that of max. */
static inline uint32_t q_abs_u32(int32_t v)
{
    return v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
}

/* q_to_s8(v, s) for int32 v and 0 <= s <= 25 in 32-bit arithmetic, when s is the
 * dynamic shift of a tensor holding v (|v| < 2^(s+7)): u = v + 2^31 >= 0 (unsigned),
 * w = floor(u / 2^(s-1)) < 2^31 + 2^8, floor(u / 2^s + 1/2) = floor((w + 1) / 2)
 * (nested floors), and 2^31 / 2^s is an integer, so subtracting 2^(31-s) gives
 * floor(v / 2^s + 1/2) in [-128, 128]; then the clamp to [-127, 127]. */
static inline int8_t q_to_s8_32(int32_t v, int32_t s)
{
    int32_t r = v;
    if (s > 0) {
        const uint32_t w = ((uint32_t)v ^ 0x80000000u) >> (s - 1);
        r = (int32_t)((w + 1u) >> 1) - (int32_t)(1u << (31 - s));
    }
    return (int8_t)(r > Q_INT8_MAX ? Q_INT8_MAX : r < -Q_INT8_MAX ? -Q_INT8_MAX : r);
}

/* out[i] = q_to_s8(in[i], s) for i < count, s = q_dyn_shift(max |in|) (q_support.c). */
void mt_qi_requantize_s8(int64_t count, const int32_t *in, int32_t s, int8_t *out);

/* 1 if some |in[i]| >= 2^b (0 <= b <= 31), stopping at the first one. */
int mt_qi_any_abs_ge(int32_t count, const int32_t *in, int32_t b);

/* OR of |in[i]| over i < count (bit length = that of max |in|). */
uint32_t mt_qi_abs_or(int64_t count, const int32_t *in);

/* ---- fast paths and their reference twins (tests/c/test_qtrain_fast.c checks that
 * every pair agrees bit for bit). Geometry is checked by the public entry points.
 *
 * conv forward: acc (N,OH,OW,O) int32 = conv + aligned bias (bias_shift = e_acc - eb,
 * rounded, saturated), ReLU clamp when relu; returns the dynamic shift s of acc.
 * _fast needs groups == 1 and dilation 1 (mt_qi_conv2d_fast_ok).                  */
int mt_qi_conv2d_fast_ok(const mt_conv_params *p);
int32_t mt_qi_conv2d_acc_ref(const mt_conv_params *p, int32_t relu,
                             const mt_dims *xd, const int8_t *x,
                             const mt_dims *fd, const int8_t *w,
                             const int32_t *bias, int32_t bias_shift,
                             const mt_dims *yd, int32_t *acc);
int32_t mt_qi_conv2d_acc_fast(const mt_conv_params *p, int32_t relu,
                              const mt_dims *xd, const int8_t *x,
                              const mt_dims *fd, const int8_t *w,
                              const int32_t *bias, int32_t bias_shift,
                              const mt_dims *yd, int32_t *acc);
/* The DSP cores' forward (conv2d_q_fast.c), groups 1 and dilation 1: as _fast, with
 * the filter split once into spare (spare_words uint32, or a stack buffer when that is
 * too small); returns -1 (nothing written) where it does not apply (no DSP, filter
 * rows too long): then take _fast. */
int32_t mt_qi_conv2d_acc_dsp(const mt_conv_params *p, int32_t relu,
                             const mt_dims *xd, const int8_t *x,
                             const mt_dims *fd, const int8_t *w,
                             const int32_t *bias, int32_t bias_shift,
                             const mt_dims *yd, int32_t *acc,
                             uint32_t *spare, int32_t spare_words);
/* conv dx: acc (N,H,W,C) int32 = the transposed conv of dy (OVERWRITTEN); returns s. */
int32_t mt_qi_conv2d_dx_ref(const mt_conv_params *p, const mt_dims *xd,
                            const mt_dims *fd, const int8_t *w,
                            const mt_dims *yd, const int8_t *dy, int32_t *acc);
int32_t mt_qi_conv2d_dx_fast(const mt_conv_params *p, const mt_dims *xd,
                             const mt_dims *fd, const int8_t *w,
                             const mt_dims *yd, const int8_t *dy, int32_t *acc);
/* conv dW / db of outputs [o_begin, o_end), OVERWRITTEN with the exact sums (no
 * saturation needed: each fits int32 by the N*OH*OW < 2^17 check). db may be NULL.
 * The _ref twin is the public accumulating kernel on zeroed blocks.               */
void mt_qi_conv2d_dw_fast(const mt_conv_params *p, const mt_dims *xd, const int8_t *x,
                          const mt_dims *fd, const mt_dims *yd, const int8_t *dy,
                          int32_t o_begin, int32_t o_end, int32_t *dw, int32_t *db);
/* linear dW / db of outputs [o_begin, o_end), OVERWRITTEN, as above. */
void mt_qi_linear_dw_fast(const mt_dims *xd, const int8_t *x, const mt_dims *wd,
                          const mt_dims *yd, const int8_t *dy,
                          int32_t o_begin, int32_t o_end, int32_t *dw, int32_t *db);
/* max pool forward and backward, the reference twins of mt_maxpool2d_q(_backward)
 * (shapes checked by those; the backward needs disjoint windows). */
mt_status mt_qi_maxpool2d_ref(const mt_pool_params *p, const mt_dims *xd, const int8_t *x,
                              const mt_dims *yd, int8_t *y);
mt_status mt_qi_maxpool2d_backward_ref(const mt_pool_params *p, const mt_dims *xd,
                                       const int8_t *x, const mt_dims *yd,
                                       const int8_t *dy, int8_t *dx);
/* SGD without momentum (t < 0) fused with the refresh of the changed forward-copy
 * elements at shift s_old (sgd_q.c). g_bits: every |grad| < 2^g_bits (32 if unknown;
 * <= 15 lets DSP cores take the assembly loop). *bits |= |master| of the changed
 * elements the C loop did; the assembly loop adds nothing, or bit 31 when a copy it
 * wrote may be wrong (some changed master saturated or rounds outside [-127, 127]):
 * then the caller redoes the layer's shift and whole copy. Without bit 31 every
 * changed copy is refresh(master) at s_old and no changed |master| >= 2^(s_old+7). */
mt_status mt_qi_sgd_update_refresh(const mt_sgd_q_params *p, int32_t size,
                                   int32_t *master, int32_t em,
                                   const int32_t *grad, int32_t eg, uint32_t *rng,
                                   int8_t *weight_q, int32_t s_old, int32_t g_bits,
                                   uint32_t *bits);

/* The same for a linear layer at batch 1 without storing dW: rows output channels of
 * K weights, grad[o][k] = dy[o] * x[k], the same draws and results as dW +
 * mt_qi_sgd_update_refresh (the assembly loop's *bits rule). DSP cores with GCC only,
 * for 1 <= -t <= 16 and s_old >= 1: MT_ERR_UNSUPPORTED otherwise, before any change. */
mt_status mt_qi_sgd_linear_refresh(const mt_sgd_q_params *p, int32_t rows, int32_t K,
                                   const int8_t *x, const int8_t *dy, int32_t *master,
                                   int32_t em, int32_t eg, uint32_t *rng, int8_t *weight_q,
                                   int32_t s_old, uint32_t *bits);

#endif /* MT_Q_INTERNAL_H */
