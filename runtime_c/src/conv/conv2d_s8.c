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
#include "../support/requant.h"

/* Every size a loop needs, read once from the validated arguments. */
typedef struct {
    int32_t N, H, W, C;        /* input                                   */
    int32_t KH, KW, CG;        /* filter; CG = input channels per group   */
    int32_t OH, OW, O, OG;     /* output; OG = output channels per group  */
    int32_t sh, sw, pt, pl, dh, dw;
} conv_shape;

/* Geometry (MT_ERR_ARG) then shape (MT_ERR_SHAPE) checks, as conv2d_f32.c. */
static mt_status conv_check(const mt_conv_params *p, const mt_dims *in,
                            const mt_dims *filter, const mt_dims *out)
{
    MT_CHECK(p->stride_h >= 1 && p->stride_w >= 1, MT_ERR_ARG);
    MT_CHECK(p->dilation_h >= 1 && p->dilation_w >= 1, MT_ERR_ARG);
    MT_CHECK(p->groups >= 1, MT_ERR_ARG);
    MT_CHECK(p->pad_top >= 0 && p->pad_left >= 0 &&
             p->pad_bottom >= 0 && p->pad_right >= 0, MT_ERR_ARG);

    MT_CHECK(mt_dims_ok(in) && mt_dims_ok(filter) && mt_dims_ok(out), MT_ERR_SHAPE);
    MT_CHECK(in->c % p->groups == 0 && filter->n % p->groups == 0, MT_ERR_SHAPE);
    MT_CHECK(filter->c == in->c / p->groups, MT_ERR_SHAPE);
    MT_CHECK(out->n == in->n && out->c == filter->n, MT_ERR_SHAPE);
    /* The padded input must be indexable in int32 (then no tap index overflows). */
    MT_CHECK((int64_t)in->h + p->pad_top + p->pad_bottom <= INT32_MAX &&
             (int64_t)in->w + p->pad_left + p->pad_right <= INT32_MAX, MT_ERR_SHAPE);
    MT_CHECK(out->h == mt_conv_out_size(in->h, filter->h, p->stride_h,
                                        p->pad_top + p->pad_bottom, p->dilation_h),
             MT_ERR_SHAPE);
    MT_CHECK(out->w == mt_conv_out_size(in->w, filter->w, p->stride_w,
                                        p->pad_left + p->pad_right, p->dilation_w),
             MT_ERR_SHAPE);
    return MT_OK;
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
    mt_status status = conv_check(params, in_dims, filter_dims, out_dims);
    if (status != MT_OK)
        return status;
    /* filter dims passed mt_dims_ok, so KH*KW*CG fits in int32. */
    MT_CHECK(filter_dims->h * filter_dims->w * filter_dims->c <= MT_S8_MAX_REDUCTION,
             MT_ERR_UNSUPPORTED);
    MT_CHECK(mt_requant_ok(quant->multiplier, quant->shift, out_dims->c), MT_ERR_ARG);

    conv_shape s;
    s.N = in_dims->n;  s.H = in_dims->h;  s.W = in_dims->w;  s.C = in_dims->c;
    s.KH = filter_dims->h;  s.KW = filter_dims->w;  s.CG = filter_dims->c;
    s.OH = out_dims->h;  s.OW = out_dims->w;  s.O = out_dims->c;
    s.OG = out_dims->c / params->groups;
    s.sh = params->stride_h;  s.sw = params->stride_w;
    s.pt = params->pad_top;  s.pl = params->pad_left;
    s.dh = params->dilation_h;  s.dw = params->dilation_w;
    const int32_t in_off = io->input_offset, out_off = io->output_offset;
    const int32_t act_min = io->act_min, act_max = io->act_max;

    for (int32_t n = 0; n < s.N; n++) {
        const int8_t *x_n = in + n * s.H * s.W * s.C;
        for (int32_t oy = 0; oy < s.OH; oy++) {
            for (int32_t ox = 0; ox < s.OW; ox++) {
                int8_t *y = out + ((n * s.OH + oy) * s.OW + ox) * s.O;
                for (int32_t o = 0; o < s.O; o++) {
                    const int32_t c0 = (o / s.OG) * s.CG;   /* first input channel of o's group */
                    /* Overflow: x + input_offset is in [-255, 255] (x in [-128, 127],
                     * input_offset in [-127, 128]) and w in [-128, 127], so each product
                     * has |p| <= 255 * 128 = 32640 < 2^15; at most KH*KW*CG <= 65536
                     * products give |sum| <= 2^16 * 32640 = 2139095040 < INT32_MAX.   */
                    int32_t sum = 0;
                    for (int32_t ky = 0; ky < s.KH; ky++) {
                        const int32_t iy = oy * s.sh - s.pt + ky * s.dh;
                        if (iy < 0 || iy >= s.H)
                            continue;
                        for (int32_t kx = 0; kx < s.KW; kx++) {
                            const int32_t ix = ox * s.sw - s.pl + kx * s.dw;
                            if (ix < 0 || ix >= s.W)
                                continue;
                            const int8_t *x = x_n + (iy * s.W + ix) * s.C + c0;
                            const int8_t *w = filter + ((o * s.KH + ky) * s.KW + kx) * s.CG;
                            for (int32_t i = 0; i < s.CG; i++)
                                sum += ((int32_t)x[i] + in_off) * (int32_t)w[i];
                        }
                    }
                    const int32_t acc = bias ? mt_add_sat_s32(sum, bias[o]) : sum;
                    const int32_t r = mt_requantize_inline(acc, quant->multiplier[o],
                                                           quant->shift[o]);
                    y[o] = mt_output_s8(r, out_off, act_min, act_max);
                }
            }
        }
    }
    return MT_OK;
}
