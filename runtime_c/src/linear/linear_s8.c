/* linear_s8.c - fully connected layer, int8 (inference), the twin of linear_f32.c.
 *
 * x (N, h, w, c) with h*w*c == K (flatten is free), W (O,1,1,K), y (N,1,1,O):
 *   acc[n,o] = sat32( bias[o] + sum_k (x[n,k] + input_offset) * W[o,k] )
 *   y[n,o]   = clamp( requantize(acc[n,o], M[o], shift[o]) + output_offset, act_min, act_max )
 * bias may be NULL (zero); the bias add saturates (see conv2d_s8.c).
 */
#include <stdint.h>
#include "mt/mt.h"
#include "../support/check.h"
#include "../support/geometry.h"
#include "../support/requant.h"
#include "../support/simd_s8.h"

/* One group of 4 inputs x 4 rows in asm (the loop below runs it twice per iteration). */
#define LINEAR_S8_GROUP \
    "ldr     %[t0], [%[x]], #4\n\t"                                                \
    "sxtab16 %[t1], %[off], %[t0]\n\t"               /* x + off (0, 2)          */ \
    "sxtab16 %[t0], %[off], %[t0], ror #8\n\t"       /* x + off (1, 3)          */ \
    "ldr     %[t3], [%[w], %[s]]\n\t"                /* row 1                   */ \
    "sxtb16  %[t2], %[t3]\n\t"                                                     \
    "sxtb16  %[t3], %[t3], ror #8\n\t"                                             \
    "smlad   %[a1], %[t1], %[t2], %[a1]\n\t"                                       \
    "smlad   %[a1], %[t0], %[t3], %[a1]\n\t"                                       \
    "ldr     %[t3], [%[w]], #4\n\t"                  /* row 0                   */ \
    "sxtb16  %[t2], %[t3]\n\t"                                                     \
    "sxtb16  %[t3], %[t3], ror #8\n\t"                                             \
    "smlad   %[a0], %[t1], %[t2], %[a0]\n\t"                                       \
    "smlad   %[a0], %[t0], %[t3], %[a0]\n\t"                                       \
    "ldr     %[t3], [%[w2], %[s]]\n\t"               /* row 3                   */ \
    "sxtb16  %[t2], %[t3]\n\t"                                                     \
    "sxtb16  %[t3], %[t3], ror #8\n\t"                                             \
    "smlad   %[a3], %[t1], %[t2], %[a3]\n\t"                                       \
    "smlad   %[a3], %[t0], %[t3], %[a3]\n\t"                                       \
    "ldr     %[t3], [%[w2]], #4\n\t"                 /* row 2                   */ \
    "sxtb16  %[t2], %[t3]\n\t"                                                     \
    "sxtb16  %[t3], %[t3], ror #8\n\t"                                             \
    "smlad   %[a2], %[t1], %[t2], %[a2]\n\t"                                       \
    "smlad   %[a2], %[t0], %[t3], %[a2]\n\t"

/* Four rows per pass over x: rows r0 = w, r1 = w + s, r2 = w2, r3 = w2 + s (s = K,
 * or 0 to repeat a row when O < 4):
 *   acc[j] = sum_k (x[k] + in_off) * r_j[k]
 * Each group of 4 inputs is loaded and offset once and feeds the four rows.
 * Overflow: |x + input_offset| <= 255 and |w| <= 128, so each product has
 * |p| <= 32640 < 2^15; K <= 65536 products give |sum| <= 2139095040 < INT32_MAX,
 * for every partial sum in any order.                                          */
static MT_NOINLINE void dot_1x4_s8(const int8_t *x, int32_t in_off, const int8_t *w,
                                   const int8_t *w2, int32_t s, int32_t K, int32_t *acc)
{
    const mt_s8_off off = mt_pack_off(in_off);
    const int8_t *const end = x + (K & ~3);
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
#ifdef MT_S8_ARM_DSP
    /* The C loop below in assembly, in the 14 allocatable registers (4 accumulators,
     * 6 pointers/constants, 4 temporaries); 24 instructions per 16 MACs (unrolled x2).            */
    if (x != end) {
        uint32_t t0, t1, t2, t3;
        __asm__(
            /* two groups per iteration; an odd count enters at the second */
            "sub     %[t0], %[end], %[x]\n\t"
            "tst     %[t0], #4\n\t"
            "bne     2f\n\t"
            "1:\n\t"
            LINEAR_S8_GROUP
            "2:\n\t"
            LINEAR_S8_GROUP
            "cmp     %[x], %[end]\n\t"
            "bne     1b\n\t"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x),
              [w] "+r"(w), [w2] "+r"(w2), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2),
              [t3] "=&r"(t3)
            : [off] "r"(off), [s] "r"(s), [end] "r"(end)
            : "cc", "memory");
    }
#else
    for (; x != end; x += 4, w += 4, w2 += 4) {
        const mt_s8x4 u = mt_load_s8x4_off(x, off);
        a0 = mt_dot_s8x4(a0, u, mt_load_s8x4(w));
        a1 = mt_dot_s8x4(a1, u, mt_load_s8x4(w + s));
        a2 = mt_dot_s8x4(a2, u, mt_load_s8x4(w2));
        a3 = mt_dot_s8x4(a3, u, mt_load_s8x4(w2 + s));
    }
#endif
    for (int32_t k = 0; k < (K & 3); k++) {
        const int32_t u = x[k] + in_off;
        a0 += u * w[k];
        a1 += u * w[k + s];
        a2 += u * w2[k];
        a3 += u * w2[k + s];
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

/* Status order: NULL pointers, io (ARG), dims (SHAPE), K > 65536 (UNSUPPORTED),
 * then the O multipliers/shifts (ARG).                                        */
mt_status mt_linear_s8(const mt_s8_io *io, const mt_requant *quant,
                       const mt_dims *in_dims, const int8_t *in,
                       const mt_dims *weight_dims, const int8_t *weight,
                       const int32_t *bias,
                       const mt_dims *out_dims, int8_t *out)
{
    MT_CHECK(io && quant && quant->multiplier && quant->shift &&
             in_dims && in && weight_dims && weight && out_dims && out, MT_ERR_NULL);
    MT_CHECK(mt_s8_io_ok(io), MT_ERR_ARG);
    const mt_status st = mt_linear_dims(in_dims, weight_dims, out_dims);
    MT_CHECK(st == MT_OK, st);
    MT_CHECK(weight_dims->c <= MT_S8_MAX_REDUCTION, MT_ERR_UNSUPPORTED);
    MT_CHECK(mt_requant_ok(quant->multiplier, quant->shift, weight_dims->n), MT_ERR_ARG);

    const int32_t N = in_dims->n, K = weight_dims->c, O = weight_dims->n;
    const int32_t out_off = io->output_offset, lo = io->act_min, hi = io->act_max;
    /* Blocks of 4 rows o + (0, e1, e2, e2 + e1): (0, 1, 2, 3) while O >= 4, the last
     * block moved back to O - 4 (its first rows are computed again, same values);
     * for O < 4, rows repeat: (0,1,1,2), (0,1,0,1), (0,0,0,0).                    */
    const int32_t e1 = O >= 2, e2 = O >= 4 ? 2 : (O == 3);
    for (int32_t n = 0; n < N; n++) {
        const int8_t *x = in + n * K;
        int8_t *y = out + n * O;
        for (int32_t o0 = 0; o0 < O; o0 += 4) {
            const int32_t o = O >= 4 && o0 > O - 4 ? O - 4 : o0;
            const int32_t row[4] = { o, o + e1, o + e2, o + e2 + e1 };
            int32_t acc[4];
            dot_1x4_s8(x, io->input_offset, weight + o * K, weight + (o + e2) * K, e1 * K, K,
                       acc);
            for (int32_t j = 0; j < 4; j++) {
                const mt_out_ch c = mt_out_prepare(quant->multiplier, quant->shift, row[j],
                                                   out_off);
                const int32_t a = bias ? mt_add_sat(acc[j], bias[row[j]]) : acc[j];
                y[row[j]] = mt_out_apply(&c, a, out_off, lo, hi);
            }
        }
    }
    return MT_OK;
}
