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
#include "../support/requant.h"

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
    MT_CHECK(mt_dims_ok(in_dims) && mt_dims_ok(weight_dims) && mt_dims_ok(out_dims),
             MT_ERR_SHAPE);
    MT_CHECK(weight_dims->h == 1 && weight_dims->w == 1, MT_ERR_SHAPE);
    MT_CHECK(in_dims->h * in_dims->w * in_dims->c == weight_dims->c, MT_ERR_SHAPE);
    MT_CHECK(out_dims->n == in_dims->n && out_dims->h == 1 && out_dims->w == 1 &&
             out_dims->c == weight_dims->n, MT_ERR_SHAPE);
    MT_CHECK(weight_dims->c <= MT_S8_MAX_REDUCTION, MT_ERR_UNSUPPORTED);
    MT_CHECK(mt_requant_ok(quant->multiplier, quant->shift, weight_dims->n), MT_ERR_ARG);

    const int32_t N = in_dims->n, K = weight_dims->c, O = weight_dims->n;
    const int32_t in_off = io->input_offset, out_off = io->output_offset;
    for (int32_t n = 0; n < N; n++) {
        const int8_t *x = in + n * K;
        int8_t *y = out + n * O;
        for (int32_t o = 0; o < O; o++) {
            const int8_t *w = weight + o * K;
            /* Overflow: |x + input_offset| <= 255 and |w| <= 128, so each product has
             * |p| <= 32640 < 2^15; K <= 65536 products give |sum| <= 2139095040 <
             * INT32_MAX.                                                          */
            int32_t sum = 0;
            for (int32_t k = 0; k < K; k++)
                sum += ((int32_t)x[k] + in_off) * (int32_t)w[k];
            const int32_t acc = bias ? mt_add_sat_s32(sum, bias[o]) : sum;
            const int32_t r = mt_requantize_inline(acc, quant->multiplier[o], quant->shift[o]);
            y[o] = mt_output_s8(r, out_off, io->act_min, io->act_max);
        }
    }
    return MT_OK;
}
