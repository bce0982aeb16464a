/* mt_s8.h - int8 kernels (inference), TFLite-compatible affine quantization.
 *
 *   real = scale * (q - zero_point)
 *
 * Weights are symmetric per output channel (zero_point 0, int8 in [-127, 127]);
 * activations are asymmetric per tensor (int8 with a zero point); biases are int32
 * at scale s_in * s_w[o]. A layer's int32 accumulator goes back to int8 through
 * mt_requantize (one rounding rule, below) with a per-channel Q31 multiplier and
 * shift computed offline by the converter: s_in * s_w[o] / s_out = M * 2^shift,
 * M = multiplier / 2^31 in [0.5, 1). The fused activation is the clamp
 * [act_min, act_max] in the output's int8 domain.
 *
 * No float inside any int8 kernel: sigmoid/tanh read a 256-entry table, softmax an
 * exp table, both computed by the converter. Pooling keeps the input's scale and
 * zero point (as TFLite). Layout and argument order as mt_f32.h.
 */
#ifndef MT_S8_H
#define MT_S8_H

#include <stdint.h>
#include "mt_status.h"
#include "mt_types.h"

/* Zero points and the output clamp of a quantized layer. */
typedef struct {
    int32_t input_offset;     /* -zero_point of the input, added to every input value */
    int32_t output_offset;    /* zero_point of the output                             */
    int32_t act_min, act_max; /* output clamp in [-128, 127] (fused ReLU/ReLU6/none)   */
} mt_s8_io;

/* Per-output-channel requantization: out = requantize(acc[o], multiplier[o], shift[o]). */
typedef struct {
    const int32_t *multiplier;   /* Q31, in [2^30, 2^31) (or 0 for a zero scale) */
    const int32_t *shift;        /* in [-31, 30]: positive = left                */
} mt_requant;

/* The one rounding rule of the integer path (the Python reference implements the
 * same, pyconvert/quant):
 *   out = saturate_int32( floor( (acc * multiplier + 2^(30 - shift)) / 2^(31 - shift) ) )
 * i.e. the exact 64-bit product scaled by 2^(shift - 31), rounded to nearest with
 * ties toward +infinity, in a single rounding step (no double rounding). */
int32_t mt_requantize(int32_t acc, int32_t multiplier, int32_t shift);

/* ---- layers -------------------------------------------------------------------
 * acc[o] = bias[o] + sum (x + input_offset) * w;   padding taps contribute zero
 * (they are the real value 0, i.e. the input zero point).
 * out = clamp(requantize(acc[o]) + output_offset, act_min, act_max).
 * Overflow: |x + input_offset| <= 255 and |w| <= 128, so each product is at most
 * 32640 and an int32 sum of up to 2^16 products cannot overflow (2^16 * 32640 <
 * 2^31); the kernels reject a longer reduction (MT_ERR_UNSUPPORTED) instead of
 * wrapping, and add the bias with saturation. bias may be NULL (zero).          */
mt_status mt_conv2d_s8(const mt_conv_params *params, const mt_s8_io *io, const mt_requant *quant,
                       const mt_dims *in_dims, const int8_t *in,
                       const mt_dims *filter_dims, const int8_t *filter,
                       const int32_t *bias,
                       const mt_dims *out_dims, int8_t *out);
mt_status mt_linear_s8(const mt_s8_io *io, const mt_requant *quant,
                       const mt_dims *in_dims, const int8_t *in,
                       const mt_dims *weight_dims, const int8_t *weight,
                       const int32_t *bias,
                       const mt_dims *out_dims, int8_t *out);

/* Pooling keeps scale and zero point; act_min/act_max clamp the result. Average
 * pooling divides with rounding to nearest, ties away from zero (as TFLite).
 * Padded taps count as the stored value 0: exact for count_include_pad = 0 (the
 * divisor counts real taps only, TFLite's only mode) or a zero point of 0; the
 * converter uses this kernel only in those cases.                                */
mt_status mt_maxpool2d_s8(const mt_pool_params *params, int32_t act_min, int32_t act_max,
                          const mt_dims *in_dims, const int8_t *in,
                          const mt_dims *out_dims, int8_t *out);
mt_status mt_avgpool2d_s8(const mt_pool_params *params, int32_t act_min, int32_t act_max,
                          const mt_dims *in_dims, const int8_t *in,
                          const mt_dims *out_dims, int8_t *out);
mt_status mt_global_avgpool_s8(int32_t act_min, int32_t act_max,
                               const mt_dims *in_dims, const int8_t *in, int8_t *out);

/* ---- elementwise (size elements; in place allowed) --------------------------------- */
/* y = clamp(x, lo, hi): ReLU / ReLU6 / Clip on an unchanged scale.                     */
mt_status mt_clamp_s8(int32_t lo, int32_t hi, int32_t size, const int8_t *in, int8_t *out);
/* y = table[x + 128]: any scalar function (sigmoid, tanh, leaky ReLU, ...) with the
 * input and output quantization folded into the 256-entry table by the converter.   */
mt_status mt_lut_s8(const int8_t *table, int32_t size, const int8_t *in, int8_t *out);
/* Softmax over rows x cols with output scale 1/256, zero point -128 (as TFLite):
 *   e[j] = exp_table[max_row - x[j]]   (exp_table[d] = round(2^23 * exp(-d * s_in)),
 *                                       d in 0..255, made by the converter)
 *   y[j] = clamp(round(256 * e[j] / sum_j e[j]) - 128, -128, 127)
 * cols <= 256 and e <= 2^23, so the sum (<= 2^31) fits the uint32 it is kept in.      */
mt_status mt_softmax_s8(const int32_t *exp_table, int32_t rows, int32_t cols,
                        const int8_t *in, int8_t *out);

/* ---- the float boundary (I/O only; uses float) ---------------------------------------
 * q = clamp(round_half_away(x / scale) + zero_point, -128, 127);  x = scale * (q - zp). */
mt_status mt_quantize_s8(float scale, int32_t zero_point, int32_t size, const float *in,
                         int8_t *out);
mt_status mt_dequantize_s8(float scale, int32_t zero_point, int32_t size, const int8_t *in,
                           float *out);

#endif /* MT_S8_H */
