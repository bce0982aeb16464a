/* simd_s8.h - the building blocks of the fast int8 conv/linear loops (internal).
 *
 * A group of four int8 values (four consecutive bytes of an activation or weight row)
 * is loaded once, "unpacked" into an mt_s8x4, and multiplied with another group by
 * mt_dot_s8x4:
 *
 *   mt_dot_s8x4(acc, a, b) = acc + a0*b0 + a1*b1 + a2*b2 + a3*b3          (exact)
 *
 * Two implementations compute that same integer:
 *
 * - DSP (Cortex-M4/M7/M33, __ARM_FEATURE_DSP): the word's bytes are sign-extended in
 *   pairs by SXTB16 (halfwords (b0, b2)) and SXTB16 ROR #8 (halfwords (b1, b3)); SMLAD
 *   adds two 16x16 products per instruction. Both operands are unpacked the same way,
 *   so (b0,b2).(b0',b2') + (b1,b3).(b1',b3') is the dot product in another order and no
 *   reordering of weights is needed. An unpacked group is 2 registers, so one load and
 *   two SXTB16 feed every dot product the group takes part in.
 * - portable (host, Cortex-M0/M3): the four values as int32.
 *
 * Integer addition is exact, so any order gives the same sum: as long as no partial
 * sum leaves int32 (the callers' overflow arguments), the two agree bit for bit.
 * SMLAD adds modulo 2^32 (it only sets the Q flag), so it too is exact there.
 *
 * MT_S8_EMULATE_DSP (tests only) runs the DSP formulation on any host, with C models
 * of SXTB16, SXTAB16 and SMLAD, so the host tests cover the pairing of the DSP path
 * (tests/c/test_s8_fast.c). On the real cores (MT_S8_ARM_DSP) the two innermost loops
 * (conv2d_s8.c, linear_s8.c) are that same formulation written in inline assembly,
 * because GCC runs out of registers there; tests/test_board_int8.py checks them
 * against the host bit for bit. Also here: SMMUL (mt_mul_hi), SSAT (mt_sat_s8),
 * USADA8 (mt_sum_biased_s8x4) and QADD (mt_add_sat), each with its portable twin.
 *
 * Reads go through memcpy: unaligned-safe in C; on cores with unaligned LDR (M3/M4/
 * M7/M33) GCC makes a 4-byte memcpy one LDR.
 */
#ifndef MT_SIMD_S8_H
#define MT_SIMD_S8_H

#include <stdint.h>
#include <string.h>
#include "requant.h"

/* The MAC loops are kept out of line: inlined into their callers, GCC spills the
 * loop's pointers to the stack (the 2x2 block needs all 14 allocatable registers). */
#if defined(__GNUC__)
#define MT_NOINLINE __attribute__((noinline))
#define MT_OUT_OF_LINE __attribute__((noinline, unused))   /* for a helper in a header */
#else
#define MT_NOINLINE
#define MT_OUT_OF_LINE
#endif

#if (defined(__ARM_FEATURE_DSP) || defined(__ARM_FEATURE_SAT)) && !defined(MT_S8_EMULATE_DSP)
#include <arm_acle.h>
#endif

#if defined(__ARM_FEATURE_DSP) && !defined(MT_S8_EMULATE_DSP)
#define MT_S8_DSP 1
#define MT_S8_ARM_DSP 1   /* the real instructions (inline assembly allowed) */
/* SXTB16: halfwords (sext(b0), sext(b2)); with ROR #8: (sext(b1), sext(b3)). */
static inline uint32_t mt_sxtb16(uint32_t v)
{
    return __sxtb16(v);
}
static inline uint32_t mt_sxtb16_ror8(uint32_t v)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}
/* SXTAB16 (ROR #8): the above plus a's halfwords, each modulo 2^16. */
static inline uint32_t mt_sxtab16(uint32_t a, uint32_t v)
{
    return __sxtab16(a, v);
}
static inline uint32_t mt_sxtab16_ror8(uint32_t a, uint32_t v)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
    return r;
}
/* SMLAD: acc + lo(a)*lo(b) + hi(a)*hi(b), halfwords signed, modulo 2^32. */
static inline int32_t mt_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlad(a, b, acc);
}
/* QADD: a + b saturated to int32. */
static inline int32_t mt_add_sat(int32_t a, int32_t b)
{
    return __qadd(a, b);
}
/* SMMUL: the high word of the 64-bit product a*b, as an unsigned bit pattern. */
static inline uint32_t mt_mul_hi(int32_t a, int32_t b)
{
    uint32_t r;
    __asm__("smmul %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
#elif defined(MT_S8_EMULATE_DSP)
#define MT_S8_DSP 1
/* C models of the instructions above (same results, any host). */
static inline uint32_t mt_sxtb16(uint32_t v)
{
    const uint32_t lo = (uint32_t)(int32_t)(int8_t)(uint8_t)v & 0xFFFFu;
    const uint32_t hi = (uint32_t)(int32_t)(int8_t)(uint8_t)(v >> 16) & 0xFFFFu;
    return lo | hi << 16;
}
static inline uint32_t mt_sxtb16_ror8(uint32_t v)
{
    return mt_sxtb16(v >> 8 | v << 24);
}
static inline uint32_t mt_sxtab16(uint32_t a, uint32_t v)
{
    const uint32_t s = mt_sxtb16(v);
    return ((a + s) & 0xFFFFu) | ((a >> 16) + (s >> 16)) << 16;
}
static inline uint32_t mt_sxtab16_ror8(uint32_t a, uint32_t v)
{
    return mt_sxtab16(a, v >> 8 | v << 24);
}
static inline int32_t mt_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    const int32_t p = (int32_t)(int16_t)(uint16_t)a * (int32_t)(int16_t)(uint16_t)b;
    const int32_t q = (int32_t)(int16_t)(uint16_t)(a >> 16) * (int32_t)(int16_t)(uint16_t)(b >> 16);
    return (int32_t)((uint32_t)acc + (uint32_t)p + (uint32_t)q);   /* modulo 2^32 */
}
static inline int32_t mt_add_sat(int32_t a, int32_t b)
{
    return mt_add_sat_s32(a, b);
}
#endif

/* acc + sum_i (p[i] + 128) over the group p[0..3] (USADA8 of the bytes with their
 * sign bit flipped, i.e. biased by 128, against zero).                         */
static inline uint32_t mt_sum_biased_s8x4(uint32_t acc, const int8_t *p)
{
#ifdef MT_S8_ARM_DSP
    uint32_t v;
    memcpy(&v, p, 4);
    return __usada8(v ^ 0x80808080u, 0, acc);
#else
    return acc + (uint32_t)(p[0] + p[1] + p[2] + p[3] + 512);
#endif
}

/* v clamped to [-128, 127] (SSAT #8 where the core has it). */
static inline int32_t mt_sat_s8(int32_t v)
{
#if defined(__ARM_FEATURE_SAT) && !defined(MT_S8_EMULATE_DSP)
    return __ssat(v, 8);
#else
    return v < -128 ? -128 : (v > 127 ? 127 : v);
#endif
}

#ifndef MT_S8_ARM_DSP
/* The high word of the 64-bit two's complement product a*b (no shift of a negative). */
static inline uint32_t mt_mul_hi(int32_t a, int32_t b)
{
    return (uint32_t)((uint64_t)((int64_t)a * b) >> 32);
}
#endif

#ifdef MT_S8_DSP
typedef struct { uint32_t even, odd; } mt_s8x4;   /* (v0,v2), (v1,v3) as int16 pairs */

static inline mt_s8x4 mt_load_s8x4(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    mt_s8x4 r = { mt_sxtb16(v), mt_sxtb16_ror8(v) };
    return r;
}

/* An offset for mt_load_s8x4_off, packed once: (off, off) as int16 halfwords. */
typedef uint32_t mt_s8_off;
static inline mt_s8_off mt_pack_off(int32_t off)
{
    return ((uint32_t)off & 0xFFFFu) * 0x10001u;
}

/* The group p[0..3] plus off (off in [-127, 128], so each sum is in [-255, 255]
 * and fits its int16 halfword: the modulo-2^16 add is exact). */
static inline mt_s8x4 mt_load_s8x4_off(const int8_t *p, mt_s8_off off)
{
    uint32_t v;
    memcpy(&v, p, 4);
    mt_s8x4 r = { mt_sxtab16(off, v), mt_sxtab16_ror8(off, v) };
    return r;
}

static inline int32_t mt_dot_s8x4(int32_t acc, mt_s8x4 a, mt_s8x4 b)
{
    return mt_smlad(a.odd, b.odd, mt_smlad(a.even, b.even, acc));
}
#else
typedef struct { int32_t v0, v1, v2, v3; } mt_s8x4;

static inline mt_s8x4 mt_load_s8x4(const int8_t *p)
{
    mt_s8x4 r = { p[0], p[1], p[2], p[3] };
    return r;
}

typedef int32_t mt_s8_off;
static inline mt_s8_off mt_pack_off(int32_t off)
{
    return off;
}

static inline mt_s8x4 mt_load_s8x4_off(const int8_t *p, mt_s8_off off)
{
    mt_s8x4 r = { p[0] + off, p[1] + off, p[2] + off, p[3] + off };
    return r;
}

static inline int32_t mt_dot_s8x4(int32_t acc, mt_s8x4 a, mt_s8x4 b)
{
    return acc + a.v0 * b.v0 + a.v1 * b.v1 + a.v2 * b.v2 + a.v3 * b.v3;
}

static inline int32_t mt_add_sat(int32_t a, int32_t b)
{
    return mt_add_sat_s32(a, b);
}
#endif

/* The output stage of conv/linear, split into a per-channel part (mt_out_prepare, once
 * per channel and block) and a per-output part (mt_out_apply):
 *   clamp(requantize(acc, M[o], shift[o]) + output_offset, act_min, act_max)
 * equal to mt_output_s8(mt_requantize(acc, M, shift), output_offset, act_min, act_max)
 * for every acc; faster for the usual shift <= -2 (a scale below 1/2):
 *
 * With k = 31 - shift = 32 + j, j = -1 - shift in [1, 30], the rule is
 *   r = floor((acc*M + 2^(k-1)) / 2^k).
 * u = acc*M + 2^62 is in [0, 2^63) (|acc*M| < 2^62), so its high word hi_u is in
 * [0, 2^31). Since 2^62 is a multiple of 2^k, floor((u + 2^(k-1)) / 2^k) = r + 2^(62-k),
 * and writing u = hi_u*2^32 + lo with 0 <= lo < 2^32:
 *   floor((u + 2^(k-1)) / 2^k) = floor((hi_u + 2^(j-1) + lo/2^32) / 2^j)
 *                              = floor((hi_u + 2^(j-1)) / 2^j)
 * (a fraction below 1 added to an integer numerator never reaches the next multiple of
 * 2^j). Adding 2^62 adds 2^30 to the high word only, so with h the high word of the
 * product's 64-bit two's complement, hi_u = (h + 2^30) mod 2^32, and
 *   t = h + round (mod 2^32), round = 2^30 + 2^(j-1),   t = hi_u + 2^(j-1) < 2^32,
 *   r = (t >> j) - 2^(30-j):   v = r + output_offset = (t >> j) + offset,
 *   offset = output_offset - 2^(30-j).
 * Every shift is of an unsigned value (none of a negative number). |r| <= 2^62/2^33 <
 * 2^30, so the rule's saturation never applies, v cannot overflow, and mt_output_s8's
 * first clamp of r to [-256, 256] changes nothing (requant.h).                    */
typedef struct {
    int32_t multiplier, shift;
    int32_t j;             /* -1 - shift: the fast rule applies when j >= 1   */
    uint32_t round;        /* 2^30 + 2^(j-1)                                  */
    int32_t offset;        /* output_offset - 2^(30-j)                        */
} mt_out_ch;

static inline mt_out_ch mt_out_prepare(const int32_t *multiplier, const int32_t *shift,
                                       int32_t o, int32_t output_offset)
{
    mt_out_ch c;
    c.multiplier = multiplier[o];
    c.shift = shift[o];
    c.j = -1 - c.shift;
    c.round = 0;
    c.offset = output_offset;
    if (c.j >= 1) {
        c.round = (UINT32_C(1) << 30) + (UINT32_C(1) << (c.j - 1));
        c.offset = output_offset - (int32_t)(UINT32_C(1) << (30 - c.j));
    }
    return c;
}

/* The general rule (any shift), out of line: it is rarely needed. */
static MT_OUT_OF_LINE int8_t mt_out_general(int32_t acc, int32_t multiplier, int32_t shift,
                                            int32_t output_offset, int32_t act_min,
                                            int32_t act_max)
{
    return mt_output_s8(mt_requantize(acc, multiplier, shift), output_offset, act_min, act_max);
}

static inline int8_t mt_out_apply(const mt_out_ch *c, int32_t acc, int32_t output_offset,
                                  int32_t act_min, int32_t act_max)
{
    if (c->j < 1)   /* a scale >= 1/2 */
        return mt_out_general(acc, c->multiplier, c->shift, output_offset, act_min, act_max);
    int32_t v = (int32_t)((mt_mul_hi(acc, c->multiplier) + c->round) >> c->j) + c->offset;
    if (v < act_min) v = act_min;
    if (v > act_max) v = act_max;
    return (int8_t)v;
}

#endif /* MT_SIMD_S8_H */
