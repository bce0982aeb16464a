/* q_support.c - PRNG, rounding helpers and dynamic requantization of q-tensors. */
#include "q_internal.h"
#include <string.h>
#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

uint32_t mt_q_rand(uint32_t *state)
{
    const uint32_t x = q_xorshift32(*state);
    *state = x;
    return x;
}

int32_t mt_q_bitlen(uint32_t v)
{
    return q_bitlen64(v);
}

int32_t mt_q_shift_round(int64_t v, int32_t shift)
{
    /* clamp v to +-2^62 first so the helpers' preconditions hold; any v beyond
     * that saturates the int32 result whatever the shift (< 63) does to it */
    const int64_t lim = ((int64_t)1 << 62) - 1;
    if (v > lim)
        v = lim;
    if (v < -lim)
        v = -lim;
    return q_sat32(q_rescale(v, shift));
}

int32_t mt_q_sat_add(int32_t a, int32_t b)
{
    return q_sat32((int64_t)a + b);
}

int32_t mt_q_int32_bytes(const mt_dims *d)
{
    if (!mt_dims_ok(d))
        return -1;
    int64_t bytes = (int64_t)mt_dims_count(d) * 4;
    return bytes > INT32_MAX ? -1 : (int32_t)bytes;
}

void mt_qi_requantize_s8(int64_t count, const int32_t *in, int32_t s, int8_t *out)
{
    const int32_t n = (int32_t)count;       /* counts of valid dims fit int32 */
    if (s == 0) {                           /* |v| <= 127: a copy */
        for (int32_t i = 0; i < n; i++)
            out[i] = (int8_t)in[i];
        return;
    }
    const uint32_t base = 1u << (31 - s);
    const int32_t s1 = s - 1;
    int32_t i = 0;
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
    /* Four values per word: r = SSAT8(ASR(ASR(v, s-1) + 1, 1)) = floor(v / 2^s + 1/2)
     * clamped to [-128, 127] (GCC's >> of a negative int is arithmetic, as ASR), packed;
     * then -128 -> -127 per byte: QSUB8 of 1 saturates only -128 (and -127) at -128,
     * QADD8 of 1 restores every other byte: max(r, -127). */
    for (; i + 4 <= n; i += 4) {
        const int32_t r0 = __ssat(((in[i] >> s1) + 1) >> 1, 8);
        const int32_t r1 = __ssat(((in[i + 1] >> s1) + 1) >> 1, 8);
        const int32_t r2 = __ssat(((in[i + 2] >> s1) + 1) >> 1, 8);
        const int32_t r3 = __ssat(((in[i + 3] >> s1) + 1) >> 1, 8);
        uint32_t v = ((uint32_t)r0 & 0xffu) | ((uint32_t)r1 & 0xffu) << 8 |
                     ((uint32_t)r2 & 0xffu) << 16 | (uint32_t)r3 << 24;
        v = __qadd8(__qsub8(v, 0x01010101u), 0x01010101u);
        memcpy(out + i, &v, 4);
    }
#endif
    for (; i < n; i++) {
        const uint32_t w = ((uint32_t)in[i] ^ 0x80000000u) >> s1;
        const int32_t r = (int32_t)((w + 1u) >> 1) - (int32_t)base;    /* in [-128, 128] */
        out[i] = (int8_t)(r > Q_INT8_MAX ? Q_INT8_MAX : r < -Q_INT8_MAX ? -Q_INT8_MAX : r);
    }
}

uint32_t mt_qi_abs_or(int64_t count, const int32_t *in)
{
    const int32_t n = (int32_t)count;
    uint32_t bits = 0;
    for (int32_t i = 0; i < n; i++)
        bits |= q_abs_u32(in[i]);
    return bits;
}

int mt_qi_any_abs_ge(int32_t count, const int32_t *in, int32_t b)
{
    const uint32_t lim = 1u << b;
    for (int32_t i = 0; i < count; i++)
        if (q_abs_u32(in[i]) >= lim)
            return 1;
    return 0;
}

mt_status mt_q_requantize(int32_t size, const int32_t *in, int32_t in_exp,
                          int8_t *out, int32_t *out_exp)
{
    MT_CHECK(in && out && out_exp, MT_ERR_NULL);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    MT_CHECK(q_exp_ok(in_exp), MT_ERR_RANGE);
    /* s = max(0, bitlen(max|v|) - 7) <= 25 for int32 values */
    const int32_t s = q_dyn_shift(mt_qi_abs_or(size, in));
    mt_qi_requantize_s8(size, in, s, out);
    *out_exp = in_exp + s;
    return MT_OK;
}

mt_status mt_q_refresh_weights(int32_t size, const int32_t *master, int32_t master_exp,
                               int8_t *weight, int32_t *weight_exp)
{
    return mt_q_requantize(size, master, master_exp, weight, weight_exp);
}
