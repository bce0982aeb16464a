/* conv2d_s8.c - 2-D convolution, int8 (inference), the twin of conv2d_f32.c.
 *
 * Same layout and geometry: activations NHWC, filters OHWI = (O, KH, KW, CG) with
 * CG = C / groups; output channel o belongs to group g = o / OG (OG = O / groups);
 *   iy = oy*sh - pt + ky*dh,  ix = ox*sw - pl + kx*dw   (outside the input = padding)
 *
 *   acc[o] = sat32( bias[o] + sum_{ky,kx,i} (x[n,iy,ix,g*CG+i] + input_offset) * w[o,ky,kx,i] )
 *   y[n,oy,ox,o] = clamp( requantize(acc[o], M[o], shift[o]) + output_offset, act_min, act_max )
 *
 * A padding tap is the real value 0, i.e. x + input_offset == 0, so it is skipped.
 * bias may be NULL (zero). The bias add saturates: the product sum itself cannot
 * overflow (below), but an arbitrary int32 bias added to it could, and saturation
 * gives the same int8 output as exact arithmetic whenever the exact accumulator
 * fits in int32 (the converter's biases always do).
 */
#include <stdint.h>
#include "mt/mt.h"
#include "../support/check.h"
#include "../support/geometry.h"
#include "../support/requant.h"

/* Overflow, for both paths: x + input_offset is in [-255, 255] (x in [-128, 127],
 * input_offset in [-127, 128]) and w in [-128, 127], so each product has
 * |p| <= 255 * 128 = 32640 < 2^15; at most KH*KW*CG <= 65536 products give
 * |sum| <= 2^16 * 32640 = 2139095040 < INT32_MAX, for the whole sum and for every
 * partial sum, in any order (integer addition is exact, so both paths agree). */

/* Bias, requantize, offset and clamp one accumulator. */
static int8_t conv_s8_output(int32_t sum, const int32_t *bias, int32_t o, const mt_requant *quant,
                             const mt_s8_io *io)
{
    const int32_t acc = bias ? mt_add_sat_s32(sum, bias[o]) : sum;
    const int32_t r = mt_requantize_inline(acc, quant->multiplier[o], quant->shift[o]);
    return mt_output_s8(r, io->output_offset, io->act_min, io->act_max);
}

/* The fast path for groups == 1 and a receptive field of at most PATCH_MAX_S8
 * values (512 B of stack, small enough for a 2 KB Cortex-M0 stack): each output
 * pixel's patch is gathered once as int16
 * (x + input_offset, 0 for padding, which is the real value 0) in the filter's
 * OHWI order, and every output channel is one contiguous dot product. */
#define PATCH_MAX_S8 256

static int32_t dot_s8(const int16_t *x, const int8_t *w, int32_t n)
{
    int32_t sum = 0, k = 0;
    for (; k + 4 <= n; k += 4)
        sum += x[k] * w[k] + x[k + 1] * w[k + 1] + x[k + 2] * w[k + 2] + x[k + 3] * w[k + 3];
    for (; k < n; k++)
        sum += x[k] * w[k];
    return sum;
}

static void conv_s8_patch(const mt_conv_shape *s, const mt_s8_io *io, const mt_requant *quant,
                          const int8_t *in, const int8_t *filter, const int32_t *bias, int8_t *out)
{
    int16_t patch[PATCH_MAX_S8];
    const int32_t K = s->KH * s->KW * s->C, in_off = io->input_offset;
    for (int32_t n = 0; n < s->N; n++) {
        const int8_t *x_n = in + n * s->H * s->W * s->C;
        for (int32_t oy = 0; oy < s->OH; oy++) {
            for (int32_t ox = 0; ox < s->OW; ox++) {
                int16_t *p = patch;
                for (int32_t ky = 0; ky < s->KH; ky++) {
                    const int32_t iy = oy * s->sh - s->pt + ky * s->dh;
                    for (int32_t kx = 0; kx < s->KW; kx++) {
                        const int32_t ix = ox * s->sw - s->pl + kx * s->dw;
                        if (iy < 0 || iy >= s->H || ix < 0 || ix >= s->W) {
                            for (int32_t c = 0; c < s->C; c++)
                                *p++ = 0;
                        } else {
                            const int8_t *x = x_n + (iy * s->W + ix) * s->C;
                            for (int32_t c = 0; c < s->C; c++)
                                *p++ = (int16_t)(x[c] + in_off);
                        }
                    }
                }
                int8_t *y = out + ((n * s->OH + oy) * s->OW + ox) * s->O;
                const int8_t *w = filter;
                for (int32_t o = 0; o < s->O; o++, w += K)
                    y[o] = conv_s8_output(dot_s8(patch, w, K), bias, o, quant, io);
            }
        }
    }
}

/* Any geometry: the direct loop over taps, skipping padding. */
static void conv_s8_direct(const mt_conv_shape *s, const mt_s8_io *io, const mt_requant *quant,
                           const int8_t *in, const int8_t *filter, const int32_t *bias, int8_t *out)
{
    const int32_t in_off = io->input_offset;
    for (int32_t n = 0; n < s->N; n++) {
        const int8_t *x_n = in + n * s->H * s->W * s->C;
        for (int32_t oy = 0; oy < s->OH; oy++) {
            for (int32_t ox = 0; ox < s->OW; ox++) {
                int8_t *y = out + ((n * s->OH + oy) * s->OW + ox) * s->O;
                for (int32_t o = 0; o < s->O; o++) {
                    const int32_t c0 = (o / s->OG) * s->CG;   /* first input channel of o's group */
                    int32_t sum = 0;
                    for (int32_t ky = 0; ky < s->KH; ky++) {
                        const int32_t iy = oy * s->sh - s->pt + ky * s->dh;
                        if (iy < 0 || iy >= s->H)
                            continue;
                        for (int32_t kx = 0; kx < s->KW; kx++) {
                            const int32_t ix = ox * s->sw - s->pl + kx * s->dw;
                            if (ix < 0 || ix >= s->W)
                                continue;
                            const int8_t *x = x_n + (iy * s->W + ix) * s->C + c0;
                            const int8_t *w = filter + ((o * s->KH + ky) * s->KW + kx) * s->CG;
                            for (int32_t i = 0; i < s->CG; i++)
                                sum += ((int32_t)x[i] + in_off) * (int32_t)w[i];
                        }
                    }
                    y[o] = conv_s8_output(sum, bias, o, quant, io);
                }
            }
        }
    }
}

/* in (N,H,W,C), filter (O,KH,KW,CG), bias (O,) or NULL -> out (N,OH,OW,O).
 * Status order: NULL pointers, io/geometry (ARG), dims (SHAPE), a reduction
 * KH*KW*CG > 65536 (UNSUPPORTED), then the O multipliers/shifts (ARG).        */
mt_status mt_conv2d_s8(const mt_conv_params *params, const mt_s8_io *io, const mt_requant *quant,
                       const mt_dims *in_dims, const int8_t *in,
                       const mt_dims *filter_dims, const int8_t *filter,
                       const int32_t *bias,
                       const mt_dims *out_dims, int8_t *out)
{
    MT_CHECK(params && io && quant && quant->multiplier && quant->shift &&
             in_dims && in && filter_dims && filter && out_dims && out, MT_ERR_NULL);
    MT_CHECK(mt_s8_io_ok(io), MT_ERR_ARG);
    mt_conv_shape s;
    mt_status status = mt_conv_geometry(params, in_dims, filter_dims, out_dims, &s);
    if (status != MT_OK)
        return status;
    /* filter dims passed mt_dims_ok, so KH*KW*CG fits in int32. */
    MT_CHECK(filter_dims->h * filter_dims->w * filter_dims->c <= MT_S8_MAX_REDUCTION,
             MT_ERR_UNSUPPORTED);
    MT_CHECK(mt_requant_ok(quant->multiplier, quant->shift, out_dims->c), MT_ERR_ARG);

    if (params->groups == 1 && s.KH * s.KW * s.C <= PATCH_MAX_S8)
        conv_s8_patch(&s, io, quant, in, filter, bias, out);
    else
        conv_s8_direct(&s, io, quant, in, filter, bias, out);
    return MT_OK;
}
