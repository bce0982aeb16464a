/* conv2d_f32_backward.c - 2-D convolution, float32, backward: dX, dW, db.
 *
 * Layout and geometry as conv2d_f32.c: NHWC activations, OHWI filters
 * (O, KH, KW, CG), CG = C / groups, OG = O / groups;
 *   iy = oy*sh - pt + ky*dh,  ix = ox*sw - pl + kx*dw   (outside the input = zero padding)
 */
#include <stdint.h>
#include "mt/mt.h"
#include "../support/check.h"
#include "../support/geometry.h"

/* d_in (N,H,W,C), overwritten: every output that read x[n,iy,ix,c] sends back
 * its gradient times the weight it used (a transposed convolution):
 *   dx[n,iy,ix,g*CG+i] = sum_{ky,kx} sum_{o in group g} dy[n,oy,ox,o] * w[o,ky,kx,i]
 * over the (ky, kx) with oy = (iy + pt - ky*dh) / sh and ox = (ix + pl - kx*dw) / sw
 * whole numbers inside the output.                                           */
static void conv_backward_input(const mt_conv_shape *s, const float *filter,
                                const float *d_out, float *d_in)
{
    const int32_t w_stride = s->KH * s->KW * s->CG;   /* from w[o,..] to w[o+1,..] */
    for (int32_t n = 0; n < s->N; n++) {
        for (int32_t iy = 0; iy < s->H; iy++) {
            for (int32_t ix = 0; ix < s->W; ix++) {
                float *dx = d_in + ((n * s->H + iy) * s->W + ix) * s->C;
                for (int32_t c = 0; c < s->C; c++) {
                    const int32_t g = c / s->CG, i = c % s->CG;
                    float sum = 0.0f;
                    for (int32_t ky = 0; ky < s->KH; ky++) {
                        const int32_t ty = iy + s->pt - ky * s->dh;
                        if (ty < 0 || ty % s->sh != 0 || ty / s->sh >= s->OH)
                            continue;
                        const int32_t oy = ty / s->sh;
                        for (int32_t kx = 0; kx < s->KW; kx++) {
                            const int32_t tx = ix + s->pl - kx * s->dw;
                            if (tx < 0 || tx % s->sw != 0 || tx / s->sw >= s->OW)
                                continue;
                            const int32_t ox = tx / s->sw;
                            const float *dy = d_out + ((n * s->OH + oy) * s->OW + ox) * s->O
                                              + g * s->OG;
                            const float *w = filter + (((g * s->OG) * s->KH + ky) * s->KW + kx)
                                                      * s->CG + i;
                            for (int32_t og = 0; og < s->OG; og++)
                                sum += dy[og] * w[og * w_stride];
                        }
                    }
                    dx[c] = sum;
                }
            }
        }
    }
}

/* d_filter rows of output channels [o_begin, o_end), (o_end-o_begin,KH,KW,CG), accumulated:
 *   dw[o,ky,kx,i] += sum_{n,oy,ox} dy[n,oy,ox,o] * x[n,iy,ix,g*CG+i]         */
static void conv_backward_filter(const mt_conv_shape *s, const float *in, const float *d_out,
                                 int32_t o_begin, int32_t o_end, float *d_filter)
{
    for (int32_t o = o_begin; o < o_end; o++) {
        const int32_t c0 = (o / s->OG) * s->CG;
        for (int32_t ky = 0; ky < s->KH; ky++) {
            for (int32_t kx = 0; kx < s->KW; kx++) {
                for (int32_t i = 0; i < s->CG; i++) {
                    float sum = 0.0f;
                    for (int32_t n = 0; n < s->N; n++) {
                        for (int32_t oy = 0; oy < s->OH; oy++) {
                            const int32_t iy = oy * s->sh - s->pt + ky * s->dh;
                            if (iy < 0 || iy >= s->H)
                                continue;
                            const float *x_row = in + (n * s->H + iy) * s->W * s->C + c0 + i;
                            const float *dy_row = d_out + (n * s->OH + oy) * s->OW * s->O + o;
                            for (int32_t ox = 0; ox < s->OW; ox++) {
                                const int32_t ix = ox * s->sw - s->pl + kx * s->dw;
                                if (ix < 0 || ix >= s->W)
                                    continue;
                                sum += dy_row[ox * s->O] * x_row[ix * s->C];
                            }
                        }
                    }
                    d_filter[(((o - o_begin) * s->KH + ky) * s->KW + kx) * s->CG + i] += sum;
                }
            }
        }
    }
}

/* d_bias entries of output channels [o_begin, o_end), accumulated:
 *   db[o] += sum_{n,oy,ox} dy[n,oy,ox,o]                                        */
static void conv_backward_bias(const mt_conv_shape *s, const float *d_out,
                               int32_t o_begin, int32_t o_end, float *d_bias)
{
    const int32_t pixels = s->N * s->OH * s->OW;
    for (int32_t o = o_begin; o < o_end; o++) {
        float sum = 0.0f;
        for (int32_t p = 0; p < pixels; p++)
            sum += d_out[p * s->O + o];
        d_bias[o - o_begin] += sum;
    }
}

/* d_out (N,OH,OW,O) is dL/dy before the fused activation. Computes whichever of
 * d_in (overwritten), d_filter and d_bias (accumulated) are not NULL; `in` is
 * needed only for d_filter, `filter` only for d_in.                          */
mt_status mt_conv2d_f32_backward(const mt_conv_params *params,
                                 const mt_dims *in_dims, const float *in,
                                 const mt_dims *filter_dims, const float *filter,
                                 const mt_dims *out_dims, const float *d_out,
                                 float *d_in, float *d_filter, float *d_bias)
{
    MT_CHECK(params && in_dims && filter_dims && out_dims && d_out, MT_ERR_NULL);
    MT_CHECK(in || !d_filter, MT_ERR_NULL);
    MT_CHECK(filter || !d_in, MT_ERR_NULL);
    mt_conv_shape s;
    mt_status status = mt_conv_geometry(params, in_dims, filter_dims, out_dims, &s);
    if (status != MT_OK)
        return status;

    if (d_in)
        conv_backward_input(&s, filter, d_out, d_in);
    if (d_filter)
        conv_backward_filter(&s, in, d_out, 0, s.O, d_filter);
    if (d_bias)
        conv_backward_bias(&s, d_out, 0, s.O, d_bias);
    return MT_OK;
}

/* The parameter gradients of output channels [o_begin, o_end) only, accumulated into
 * compact blocks: d_filter (o_end-o_begin, KH, KW, CG), d_bias (o_end-o_begin,).
 * Training uses it to update a layer block by block, so its whole weight
 * gradient never has to exist at once. Either output may be NULL.            */
mt_status mt_conv2d_f32_backward_params(const mt_conv_params *params,
                                        const mt_dims *in_dims, const float *in,
                                        const mt_dims *filter_dims,
                                        const mt_dims *out_dims, const float *d_out,
                                        int32_t o_begin, int32_t o_end,
                                        float *d_filter, float *d_bias)
{
    MT_CHECK(params && in_dims && filter_dims && out_dims && d_out, MT_ERR_NULL);
    MT_CHECK(in || !d_filter, MT_ERR_NULL);
    mt_conv_shape s;
    mt_status status = mt_conv_geometry(params, in_dims, filter_dims, out_dims, &s);
    if (status != MT_OK)
        return status;
    MT_CHECK(0 <= o_begin && o_begin <= o_end && o_end <= filter_dims->n, MT_ERR_RANGE);
    if (d_filter)
        conv_backward_filter(&s, in, d_out, o_begin, o_end, d_filter);
    if (d_bias)
        conv_backward_bias(&s, d_out, o_begin, o_end, d_bias);
    return MT_OK;
}
