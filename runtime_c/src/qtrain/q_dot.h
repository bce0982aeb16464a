/* q_dot.h - int8 dot products and row updates of the q-tensor training kernels
 * (internal).
 *
 * Every helper computes an exact integer (the sums are bounded by the callers'
 * overflow arguments, so any summation order gives the same bits). On cores with the
 * DSP extension (Cortex-M4/M7/M33: __ARM_FEATURE_DSP) four int8 pairs are read as one
 * word each: SXTB16 splits a word into its even bytes (0, 2) and, after a rotation by
 * 8, its odd bytes (1, 3) as two int16 lanes; both operands are split the same way,
 * so SMLAD (two 16x16 products added to an accumulator) pairs byte i with byte i and
 * no reordering is needed. Elsewhere (host, Cortex-M0/M3) the plain loop computes the
 * same integer. Words are read with memcpy, so any alignment is fine.
 */
#ifndef MT_Q_DOT_H
#define MT_Q_DOT_H

#include <stdint.h>
#include <string.h>
#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

/* Four bytes at p (any alignment). */
static inline uint32_t q_load_word(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

#if defined(__ARM_FEATURE_DSP)
/* The odd bytes (1, 3) of v as two int16 lanes: SXTB16 with its ROR #8 operand, one
 * instruction (GCC does not fold a rotate into __sxtb16 by itself). */
static inline uint32_t q_sxtb16_odd(uint32_t v)
{
#if defined(__GNUC__)
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
#else
    return __sxtb16((v >> 8) | (v << 24));
#endif
}
#endif

/* *s0 += sum_{i<len} x[i] w0[i];  *s1 += sum_{i<len} x[i] w1[i]  (len >= 0).
 * One read of x serves two filter rows. */
static inline void q_dot2_s8(const int8_t *x, const int8_t *w0, const int8_t *w1,
                             int32_t len, int32_t *s0, int32_t *s1)
{
    int32_t a0 = *s0, a1 = *s1, i = 0;
#if defined(__ARM_FEATURE_DSP)
    for (; i + 4 <= len; i += 4) {
        const uint32_t xv = q_load_word(x + i), u = q_load_word(w0 + i), v = q_load_word(w1 + i);
        const int32_t xe = (int32_t)__sxtb16(xv), xo = (int32_t)q_sxtb16_odd(xv);
        a0 = __smlad(xe, __sxtb16(u), a0);
        a0 = __smlad(xo, q_sxtb16_odd(u), a0);
        a1 = __smlad(xe, __sxtb16(v), a1);
        a1 = __smlad(xo, q_sxtb16_odd(v), a1);
    }
#endif
    for (; i < len; i++) {
        const int32_t xi = x[i];
        a0 += xi * w0[i];
        a1 += xi * w1[i];
    }
    *s0 = a0;
    *s1 = a1;
}

/* s[j] += sum_{i<len} x[i] w[j*stride + i] for j < 4: four filter rows per read of x. */
static inline void q_dot4_s8(const int8_t *x, const int8_t *w, int32_t stride, int32_t len,
                             int32_t *s)
{
    const int8_t *w0 = w, *w1 = w + stride, *w2 = w1 + stride, *w3 = w2 + stride;
    int32_t a0 = s[0], a1 = s[1], a2 = s[2], a3 = s[3], i = 0;
#if defined(__ARM_FEATURE_DSP)
    for (; i + 4 <= len; i += 4) {
        const uint32_t xv = q_load_word(x + i);
        const int32_t xe = (int32_t)__sxtb16(xv), xo = (int32_t)q_sxtb16_odd(xv);
        uint32_t u = q_load_word(w0 + i);
        a0 = __smlad(xe, __sxtb16(u), a0);
        a0 = __smlad(xo, q_sxtb16_odd(u), a0);
        u = q_load_word(w1 + i);
        a1 = __smlad(xe, __sxtb16(u), a1);
        a1 = __smlad(xo, q_sxtb16_odd(u), a1);
        u = q_load_word(w2 + i);
        a2 = __smlad(xe, __sxtb16(u), a2);
        a2 = __smlad(xo, q_sxtb16_odd(u), a2);
        u = q_load_word(w3 + i);
        a3 = __smlad(xe, __sxtb16(u), a3);
        a3 = __smlad(xo, q_sxtb16_odd(u), a3);
    }
#endif
    for (; i < len; i++) {
        const int32_t xi = x[i];
        a0 += xi * w0[i];
        a1 += xi * w1[i];
        a2 += xi * w2[i];
        a3 += xi * w3[i];
    }
    s[0] = a0;
    s[1] = a1;
    s[2] = a2;
    s[3] = a3;
}

/* dst[i] = src[i] for i < len, a word at a time (short rows: no library call). */
static inline void q_copy_s8(int8_t *dst, const int8_t *src, int32_t len)
{
    int32_t i = 0;
    for (; i + 4 <= len; i += 4) {
        const uint32_t v = q_load_word(src + i);
        memcpy(dst + i, &v, 4);
    }
    for (; i < len; i++)
        dst[i] = src[i];
}

#if defined(__ARM_FEATURE_DSP)
/* x (4*words bytes) split once into SXTB16 lanes: xs[2k] = bytes 0, 2 of word k,
 * xs[2k+1] = bytes 1, 3, for a vector that meets many filter rows. */
static inline void q_split_s8(const int8_t *x, int32_t words, uint32_t *xs)
{
    for (const uint32_t *end = xs + 2 * words; xs != end; xs += 2, x += 4) {
        const uint32_t v = q_load_word(x);
        xs[0] = __sxtb16(v);
        xs[1] = q_sxtb16_odd(v);
    }
}

/* s[j] += sum_{i<4*words} x[i] w[j*stride + i] for j < rows (1 or 2), from the split x. */
static inline void q_dot2_split(const uint32_t *xs, int32_t words, const int8_t *w,
                                int32_t stride, int32_t rows, int32_t *s)
{
    const int8_t *w1 = rows > 1 ? w + stride : w;
    int32_t a0 = s[0], a1 = 0;
    for (const uint32_t *end = xs + 2 * words; xs != end; xs += 2, w += 4, w1 += 4) {
        const int32_t xe = (int32_t)xs[0], xo = (int32_t)xs[1];
        const uint32_t u = q_load_word(w), v = q_load_word(w1);
        a0 = __smlad(xe, __sxtb16(u), a0);
        a0 = __smlad(xo, q_sxtb16_odd(u), a0);
        a1 = __smlad(xe, __sxtb16(v), a1);
        a1 = __smlad(xo, q_sxtb16_odd(v), a1);
    }
    s[0] = a0;
    if (rows > 1)
        s[1] += a1;
}

/* s[j] += sum_{i<4*words} x[i] w[j*stride + i], j < 4, from the split x (words >= 0).
 * Per word of the four filter rows: one LDRD of the split x, four LDR, eight SXTB16,
 * eight SMLAD. With GCC the loop is written out in assembly: the compiler's own
 * allocation of the same C spills three pointers per iteration (13 registers are
 * live); the C loop below is the same computation for other compilers. */
static inline void q_dot4_split(const uint32_t *xs, int32_t words, const int8_t *w,
                                int32_t stride, int32_t *s)
{
    int32_t a0 = s[0], a1 = s[1], a2 = s[2], a3 = s[3];
    if (words > 0) {
#if defined(__GNUC__) && defined(__OPTIMIZE__)    /* (-O0 keeps too few registers free) */
        const int8_t *wa = w, *wb = w + 2 * stride;       /* rows 0-1 and 2-3 */
        uint32_t xe, xo, t0, t1;
        __asm__ volatile(
            "1:\n\t"
            "ldrd   %[xe], %[xo], [%[xs]], #8\n\t"
            "ldr    %[t0], [%[wa], %[k]]\n\t"
            "sxtb16 %[t1], %[t0]\n\t"
            "smlad  %[a1], %[xe], %[t1], %[a1]\n\t"
            "sxtb16 %[t0], %[t0], ror #8\n\t"
            "smlad  %[a1], %[xo], %[t0], %[a1]\n\t"
            "ldr    %[t0], [%[wa]], #4\n\t"
            "sxtb16 %[t1], %[t0]\n\t"
            "smlad  %[a0], %[xe], %[t1], %[a0]\n\t"
            "sxtb16 %[t0], %[t0], ror #8\n\t"
            "smlad  %[a0], %[xo], %[t0], %[a0]\n\t"
            "ldr    %[t0], [%[wb], %[k]]\n\t"
            "sxtb16 %[t1], %[t0]\n\t"
            "smlad  %[a3], %[xe], %[t1], %[a3]\n\t"
            "sxtb16 %[t0], %[t0], ror #8\n\t"
            "smlad  %[a3], %[xo], %[t0], %[a3]\n\t"
            "ldr    %[t0], [%[wb]], #4\n\t"
            "sxtb16 %[t1], %[t0]\n\t"
            "smlad  %[a2], %[xe], %[t1], %[a2]\n\t"
            "sxtb16 %[t0], %[t0], ror #8\n\t"
            "smlad  %[a2], %[xo], %[t0], %[a2]\n\t"
            "subs   %[n], %[n], #1\n\t"
            "bne    1b\n\t"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),
              [xs] "+r"(xs), [wa] "+r"(wa), [wb] "+r"(wb), [n] "+r"(words),
              [xe] "=&r"(xe), [xo] "=&r"(xo), [t0] "=&r"(t0), [t1] "=&r"(t1)
            : [k] "r"(stride)
            : "cc", "memory");
#else
        const int8_t *w0 = w, *w1 = w + stride, *w2 = w1 + stride, *w3 = w2 + stride;
        for (const uint32_t *end = xs + 2 * words; xs != end; xs += 2) {
            const int32_t xe = (int32_t)xs[0], xo = (int32_t)xs[1];
            uint32_t u = q_load_word(w0);
            a0 = __smlad(xe, __sxtb16(u), a0);
            a0 = __smlad(xo, __sxtb16((u >> 8) | (u << 24)), a0);
            u = q_load_word(w1);
            a1 = __smlad(xe, __sxtb16(u), a1);
            a1 = __smlad(xo, __sxtb16((u >> 8) | (u << 24)), a1);
            u = q_load_word(w2);
            a2 = __smlad(xe, __sxtb16(u), a2);
            a2 = __smlad(xo, __sxtb16((u >> 8) | (u << 24)), a2);
            u = q_load_word(w3);
            a3 = __smlad(xe, __sxtb16(u), a3);
            a3 = __smlad(xo, __sxtb16((u >> 8) | (u << 24)), a3);
            w0 += 4;
            w1 += 4;
            w2 += 4;
            w3 += 4;
        }
#endif
    }
    s[0] = a0;
    s[1] = a1;
    s[2] = a2;
    s[3] = a3;
}
#endif

/* sum_{i<len} x[i] w[i] + s (len >= 0). */
static inline int32_t q_dot_s8(const int8_t *x, const int8_t *w, int32_t len, int32_t s)
{
    int32_t i = 0;
#if defined(__ARM_FEATURE_DSP)
    for (; i + 4 <= len; i += 4) {
        const uint32_t xv = q_load_word(x + i), u = q_load_word(w + i);
        s = __smlad(__sxtb16(xv), __sxtb16(u), s);
        s = __smlad(q_sxtb16_odd(xv), q_sxtb16_odd(u), s);
    }
#endif
    for (; i < len; i++)
        s += (int32_t)x[i] * w[i];
    return s;
}

/* acc[i] += g * v[i] for i < len (int32 accumulators, int8 values, |g| < 2^15 on
 * DSP cores). With the DSP extension and GCC, four elements per word of v: SXTB16
 * splits it into bytes (0, 2) and (1, 3), and SMLABB / SMLATB add the bottom / top
 * lane times g to the accumulators, read and written as two LDRD / STRD (acc is
 * int32, so word-aligned): 13 instructions per 4 elements. */
static inline void q_axpy_s8(int32_t *acc, int32_t g, const int8_t *v, int32_t len)
{
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
    if (len > 0) {
        uint32_t x, e;
        int32_t a0, a1, a2, a3, words = len >> 2, tail = len & 3;
        __asm__ volatile(
            "cmp    %[n], #0\n\t"
            "beq    2f\n"
            "1:\n\t"
            "ldr    %[x], [%[vp]], #4\n\t"
            "ldrd   %[a0], %[a1], [%[ap]]\n\t"
            "ldrd   %[a2], %[a3], [%[ap], #8]\n\t"
            "sxtb16 %[e], %[x]\n\t"
            "sxtb16 %[x], %[x], ror #8\n\t"
            "smlabb %[a0], %[e], %[g], %[a0]\n\t"
            "smlabb %[a1], %[x], %[g], %[a1]\n\t"
            "smlatb %[a2], %[e], %[g], %[a2]\n\t"
            "smlatb %[a3], %[x], %[g], %[a3]\n\t"
            "strd   %[a2], %[a3], [%[ap], #8]\n\t"
            "strd   %[a0], %[a1], [%[ap]], #16\n\t"
            "subs   %[n], %[n], #1\n\t"
            "bne    1b\n"
            "2:\n\t"
            "cmp    %[t], #0\n\t"
            "beq    4f\n"
            "3:\n\t"                             /* the last len mod 4 elements */
            "ldrsb  %[x], [%[vp]], #1\n\t"
            "ldr    %[a0], [%[ap]]\n\t"
            "smlabb %[a0], %[x], %[g], %[a0]\n\t"
            "str    %[a0], [%[ap]], #4\n\t"
            "subs   %[t], %[t], #1\n\t"
            "bne    3b\n"
            "4:\n\t"
            : [ap] "+r"(acc), [vp] "+r"(v), [n] "+r"(words), [t] "+r"(tail), [x] "=&r"(x),
              [e] "=&r"(e), [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3)
            : [g] "r"(g)
            : "cc", "memory");
    }
#else
    int32_t i = 0;
    for (; i + 4 <= len; i += 4) {
        const int32_t a0 = acc[i] + g * v[i], a1 = acc[i + 1] + g * v[i + 1];
        const int32_t a2 = acc[i + 2] + g * v[i + 2], a3 = acc[i + 3] + g * v[i + 3];
        acc[i] = a0;
        acc[i + 1] = a1;
        acc[i + 2] = a2;
        acc[i + 3] = a3;
    }
    for (; i < len; i++)
        acc[i] += g * v[i];
#endif
}

/* q_axpy_s8 over rows: acc[r*as + i] += g * v[r*vs + i], r < rows, i < len. */
static inline void q_axpy_rows_s8(int32_t *acc, int32_t as, int32_t g, const int8_t *v,
                                  int32_t vs, int32_t rows, int32_t len)
{
    for (; rows > 0; rows--, acc += as, v += vs)
        q_axpy_s8(acc, g, v, len);
}

#endif /* MT_Q_DOT_H */
