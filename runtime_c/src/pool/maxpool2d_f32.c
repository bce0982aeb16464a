/* maxpool2d_f32.c - 2-D max pooling, float32, forward and backward.
 *
 * in (N,H,W,C) -> out (N,OH,OW,C). The window of output (oy, ox) covers rows
 * oy*sh - pt .. oy*sh - pt + kh - 1 (columns likewise); padding is -inf, so the
 * window is simply clipped to the real input. Each pad is smaller than the
 * kernel (as ONNX Runtime requires), so no window lies wholly in the padding.
 */
#include <math.h>
#include <stdint.h>
#include "mt/mt.h"
#include "../support/check.h"
#include "../support/geometry.h"

/* y[n,oy,ox,c] = max_{iy,ix in the window} x[n,iy,ix,c]; a NaN in the window
 * gives NaN (as PyTorch).                                                    */
mt_status mt_maxpool2d_f32(const mt_pool_params *params,
                           const mt_dims *in_dims, const float *in,
                           const mt_dims *out_dims, float *out)
{
    MT_CHECK(params && in_dims && in && out_dims && out, MT_ERR_NULL);
    mt_status status = mt_pool_geometry(params, in_dims, out_dims);
    if (status != MT_OK)
        return status;
    const int32_t N = in_dims->n, H = in_dims->h, W = in_dims->w, C = in_dims->c;
    const int32_t OH = out_dims->h, OW = out_dims->w;

    for (int32_t n = 0; n < N; n++) {
        const float *x_n = in + n * H * W * C;
        for (int32_t oy = 0; oy < OH; oy++) {
            int32_t y0, y1, span;   /* max pooling pads with -inf: only the clipped window counts */
            mt_pool_window(oy * params->stride_h - params->pad_top, params->kernel_h, H, 0,
                           &y0, &y1, &span);
            for (int32_t ox = 0; ox < OW; ox++) {
                int32_t x0, x1;
                mt_pool_window(ox * params->stride_w - params->pad_left, params->kernel_w, W, 0,
                               &x0, &x1, &span);
                float *y = out + ((n * OH + oy) * OW + ox) * C;
                for (int32_t c = 0; c < C; c++) {
                    float best = -INFINITY;
                    for (int32_t iy = y0; iy < y1; iy++) {
                        const float *x = x_n + iy * W * C + c;
                        for (int32_t ix = x0; ix < x1; ix++) {
                            const float v = x[ix * C];
                            if (v > best || isnan(v))
                                best = v;
                        }
                    }
                    y[c] = best;
                }
            }
        }
    }
    return MT_OK;
}

/* d_in (N,H,W,C), overwritten:
 *   dx[n,iy,ix,c] = sum over the windows whose first maximum (row-major scan,
 *                   strict '>') is (iy, ix) of dy[n,oy,ox,c].
 * Needs the forward input; d_in == NULL computes nothing.                    */
mt_status mt_maxpool2d_f32_backward(const mt_pool_params *params,
                                    const mt_dims *in_dims, const float *in,
                                    const mt_dims *out_dims, const float *d_out,
                                    float *d_in)
{
    MT_CHECK(params && in_dims && in && out_dims && d_out, MT_ERR_NULL);
    mt_status status = mt_pool_geometry(params, in_dims, out_dims);
    if (status != MT_OK)
        return status;
    if (!d_in)
        return MT_OK;
    const int32_t N = in_dims->n, H = in_dims->h, W = in_dims->w, C = in_dims->c;
    const int32_t OH = out_dims->h, OW = out_dims->w;

    const int32_t count = mt_dims_count(in_dims);
    for (int32_t i = 0; i < count; i++)
        d_in[i] = 0.0f;

    for (int32_t n = 0; n < N; n++) {
        const float *x_n = in + n * H * W * C;
        float *dx_n = d_in + n * H * W * C;
        for (int32_t oy = 0; oy < OH; oy++) {
            int32_t y0, y1, span;   /* max pooling pads with -inf: only the clipped window counts */
            mt_pool_window(oy * params->stride_h - params->pad_top, params->kernel_h, H, 0,
                           &y0, &y1, &span);
            for (int32_t ox = 0; ox < OW; ox++) {
                int32_t x0, x1;
                mt_pool_window(ox * params->stride_w - params->pad_left, params->kernel_w, W, 0,
                               &x0, &x1, &span);
                const float *dy = d_out + ((n * OH + oy) * OW + ox) * C;
                for (int32_t c = 0; c < C; c++) {
                    float best = -INFINITY;
                    int32_t best_at = (y0 * W + x0) * C + c;   /* first tap, as PyTorch */
                    for (int32_t iy = y0; iy < y1; iy++) {
                        for (int32_t ix = x0; ix < x1; ix++) {
                            const int32_t at = (iy * W + ix) * C + c;
                            if (x_n[at] > best || isnan(x_n[at])) {
                                best = x_n[at];
                                best_at = at;
                            }
                        }
                    }
                    dx_n[best_at] += dy[c];
                }
            }
        }
    }
    return MT_OK;
}
