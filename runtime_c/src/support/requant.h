/* requant.h - the one rounding rule of the integer path, and the argument checks
 * shared by the int8 kernels (internal).
 *
 *   out = saturate_int32( floor( (acc * multiplier + 2^(30 - shift)) / 2^(31 - shift) ) )
 *
 * (mt_s8.h). The kernels call the inline version; mt_requantize (requant.c) is the
 * same function with external linkage for callers and the Python tests.
 *
 * Range argument, for multiplier in [0, 2^31) and shift in [-31, 30]:
 *   |acc * multiplier| <= 2^31 * (2^31 - 1) < 2^62, the rounding term 2^(30-shift)
 *   <= 2^61, so the 64-bit sum is below 2^63 in magnitude and never overflows; the
 *   divisor 2^(31-shift) is 2^1 .. 2^62.
 *
 * Floor division by a power of two is written without shifting a negative number
 * (whose result C99 leaves implementation-defined): for v < 0,
 *   floor(v / 2^k) = -ceil(-v / 2^k) = -((-v - 1) >> k) - 1,
 * where -v - 1 >= 0 and -v cannot overflow because |v| < 2^63. (So the result
 * does not depend on how the target shifts negative numbers.)
 *
 * Callers validate multiplier >= 0 and shift in [-31, 30] (mt_requant_ok) before
 * calling; the function itself has no error path.
 */
#ifndef MT_REQUANT_H
#define MT_REQUANT_H

#include <stdint.h>
#include "mt/mt_s8.h"

#define MT_SHIFT_MIN (-31)
#define MT_SHIFT_MAX 30

/* floor(v / 2^k) for 0 <= k <= 62, without right-shifting a negative value. */
static inline int64_t mt_floor_shift_s64(int64_t v, int32_t k)
{
    return v >= 0 ? (v >> k) : -((-v - 1) >> k) - 1;
}

static inline int32_t mt_requantize_inline(int32_t acc, int32_t multiplier, int32_t shift)
{
    const int64_t prod = (int64_t)acc * multiplier;                 /* |prod| < 2^62 */
    const int64_t half = (int64_t)1 << (30 - shift);                /* 2^0 .. 2^61   */
    const int64_t q = mt_floor_shift_s64(prod + half, 31 - shift);
    if (q > INT32_MAX)
        return INT32_MAX;
    if (q < INT32_MIN)
        return INT32_MIN;
    return (int32_t)q;
}

/* 1 if every one of count (multiplier, shift) pairs is valid for requantize. */
static inline int mt_requant_ok(const int32_t *multiplier, const int32_t *shift, int32_t count)
{
    for (int32_t i = 0; i < count; i++)
        if (multiplier[i] < 0 || shift[i] < MT_SHIFT_MIN || shift[i] > MT_SHIFT_MAX)
            return 0;
    return 1;
}

/* a + b saturated to int32 (the bias add of conv/linear; see conv2d_s8.c). */
static inline int32_t mt_add_sat_s32(int32_t a, int32_t b)
{
    const int64_t s = (int64_t)a + b;
    return s > INT32_MAX ? INT32_MAX : (s < INT32_MIN ? INT32_MIN : (int32_t)s);
}

/* The output stage of conv/linear: clamp(r + output_offset, act_min, act_max) for a
 * requantized r of any int32 value. r is first limited to [-256, 256]: with
 * |output_offset| <= 128 and the clamp inside [-128, 127] this cannot change the
 * result, and it keeps r + output_offset from overflowing.                      */
static inline int8_t mt_output_s8(int32_t r, int32_t output_offset,
                                  int32_t act_min, int32_t act_max)
{
    if (r > 256) r = 256;
    if (r < -256) r = -256;
    int32_t v = r + output_offset;
    if (v < act_min) v = act_min;
    if (v > act_max) v = act_max;
    return (int8_t)v;
}

/* Reduction length limit of conv/linear/pooling sums (see mt_s8.h, Overflow). */
#define MT_S8_MAX_REDUCTION 65536

/* 1 if lo <= hi and both are int8 values. */
static inline int mt_act_s8_ok(int32_t lo, int32_t hi)
{
    return lo >= -128 && lo <= hi && hi <= 127;
}

/* 1 if the offsets and clamp of a quantized layer are in range:
 * input_offset = -zp_in in [-127, 128], output_offset = zp_out in [-128, 127]. */
static inline int mt_s8_io_ok(const mt_s8_io *io)
{
    return io->input_offset >= -127 && io->input_offset <= 128 &&
           io->output_offset >= -128 && io->output_offset <= 127 &&
           mt_act_s8_ok(io->act_min, io->act_max);
}

#endif /* MT_REQUANT_H */
