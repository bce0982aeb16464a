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

#endif /* MT_Q_INTERNAL_H */
