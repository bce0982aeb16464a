/* conv2d_f32.c - 2-D convolution, float32, forward (backward: conv2d_f32_backward.c).
 *
 * Activations are NHWC, filters OHWI = (O, KH, KW, CG) with CG = C / groups
 * input channels per group. Output channel o belongs to group g = o / OG
 * (OG = O / groups) and reads input channels g*CG .. g*CG + CG - 1; groups == C
 * is depthwise, O = k*C with groups == C a depthwise channel multiplier.
 * Input tap of output (oy, ox) and kernel tap (ky, kx):
 *   iy = oy*sh - pt + ky*dh,  ix = ox*sw - pl + kx*dw   (outside the input = zero padding)
 */
#include <stdint.h>
#include "mt/mt.h"
#include "../support/check.h"
#include "../support/geometry.h"
#include "../support/dot.h"

/* The fast path gathers each output pixel's receptive field once into a stack
 * buffer of up to PATCH_MAX floats (640 B of stack; LeNet-5's conv2 needs 150), zeros for
 * padding, in OHWI order; every output channel is then one contiguous dot product
 * with its filter row. Same terms in the same order as the direct loop (a padding
 * term adds 0), so both paths give the same result. */
#define PATCH_MAX 160

static float clamp_f32(float v, const mt_range_f32 *act)
{
    return act ? (v < act->lo ? act->lo : (v > act->hi ? act->hi : v)) : v;
}

/* groups == 1 and KH*KW*C <= PATCH_MAX. */
static void conv_forward_patch(const mt_conv_shape *s, const float *in, const float *filter,
                               const float *bias, const mt_range_f32 *act, float *out)
{
    float patch[PATCH_MAX];
    const int32_t K = s->KH * s->KW * s->C;
    for (int32_t n = 0; n < s->N; n++) {
        const float *x_n = in + n * s->H * s->W * s->C;
        for (int32_t oy = 0; oy < s->OH; oy++) {
            for (int32_t ox = 0; ox < s->OW; ox++) {
                float *p = patch;
                for (int32_t ky = 0; ky < s->KH; ky++) {
                    const int32_t iy = oy * s->sh - s->pt + ky * s->dh;
                    for (int32_t kx = 0; kx < s->KW; kx++) {
                        const int32_t ix = ox * s->sw - s->pl + kx * s->dw;
                        if (iy < 0 || iy >= s->H || ix < 0 || ix >= s->W) {
                            for (int32_t c = 0; c < s->C; c++)
                                *p++ = 0.0f;
                        } else {
                            const float *x = x_n + (iy * s->W + ix) * s->C;
                            for (int32_t c = 0; c < s->C; c++)
                                *p++ = x[c];
                        }
                    }
                }
                float *y = out + ((n * s->OH + oy) * s->OW + ox) * s->O;
                const float *w = filter;
                for (int32_t o = 0; o < s->O; o++, w += K)
                    y[o] = clamp_f32(mt_dot_f32(patch, w, K, bias ? bias[o] : 0.0f), act);
            }
        }
    }
}

/* Any geometry: the direct loop over taps, skipping padding. */
static void conv_forward_direct(const mt_conv_shape *s, const float *in, const float *filter,
                                const float *bias, const mt_range_f32 *act, float *out)
{
    for (int32_t n = 0; n < s->N; n++) {
        const float *x_n = in + n * s->H * s->W * s->C;
        for (int32_t oy = 0; oy < s->OH; oy++) {
            for (int32_t ox = 0; ox < s->OW; ox++) {
                float *y = out + ((n * s->OH + oy) * s->OW + ox) * s->O;
                for (int32_t o = 0; o < s->O; o++) {
                    const int32_t c0 = (o / s->OG) * s->CG;   /* first input channel of o's group */
                    float sum = bias ? bias[o] : 0.0f;
                    for (int32_t ky = 0; ky < s->KH; ky++) {
                        const int32_t iy = oy * s->sh - s->pt + ky * s->dh;
                        if (iy < 0 || iy >= s->H)
                            continue;
                        for (int32_t kx = 0; kx < s->KW; kx++) {
                            const int32_t ix = ox * s->sw - s->pl + kx * s->dw;
                            if (ix < 0 || ix >= s->W)
                                continue;
                            const float *x = x_n + (iy * s->W + ix) * s->C + c0;
                            const float *w = filter + ((o * s->KH + ky) * s->KW + kx) * s->CG;
                            for (int32_t i = 0; i < s->CG; i++)
                                sum += x[i] * w[i];
                        }
                    }
                    y[o] = clamp_f32(sum, act);
                }
            }
        }
    }
}

/* in (N,H,W,C), filter (O,KH,KW,CG), bias (O,) or NULL -> out (N,OH,OW,O):
 *   y[n,oy,ox,o] = act( b[o] + sum_{ky,kx,i} x[n,iy,ix,g*CG+i] * w[o,ky,kx,i] ),
 * act = clamp to [act->lo, act->hi], or identity when act is NULL.           */
mt_status mt_conv2d_f32(const mt_conv_params *params, const mt_range_f32 *act,
                        const mt_dims *in_dims, const float *in,
                        const mt_dims *filter_dims, const float *filter,
                        const float *bias,
                        const mt_dims *out_dims, float *out)
{
    MT_CHECK(params && in_dims && in && filter_dims && filter && out_dims && out,
             MT_ERR_NULL);
    MT_CHECK(!act || act->lo <= act->hi, MT_ERR_ARG);
    mt_conv_shape s;
    mt_status status = mt_conv_geometry(params, in_dims, filter_dims, out_dims, &s);
    if (status != MT_OK)
        return status;
    if (params->groups == 1 && s.KH * s.KW * s.C <= PATCH_MAX)
        conv_forward_patch(&s, in, filter, bias, act, out);
    else
        conv_forward_direct(&s, in, filter, bias, act, out);
    return MT_OK;
}
