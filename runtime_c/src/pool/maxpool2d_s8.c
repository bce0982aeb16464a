/* maxpool2d_s8.c - 2-D max pooling, int8 (inference), the twin of maxpool2d_f32.c.
 *
 * in (N,H,W,C) -> out (N,OH,OW,C), same scale and zero point. The window of output
 * (oy, ox) covers rows oy*sh - pt .. oy*sh - pt + kh - 1 (columns likewise); padding
 * is -inf, so the window is clipped to the real input. Each pad is smaller than the
 * kernel (MT_ERR_ARG otherwise), so every window holds a real tap.
 *   y[n,oy,ox,c] = clamp( max_{window} x[n,iy,ix,c], act_min, act_max )
 */
#include <stdint.h>
#include "mt/mt.h"
#include "../support/check.h"
#include "../support/geometry.h"
#include "../support/requant.h"

mt_status mt_maxpool2d_s8(const mt_pool_params *params, int32_t act_min, int32_t act_max,
                          const mt_dims *in_dims, const int8_t *in,
                          const mt_dims *out_dims, int8_t *out)
{
    MT_CHECK(params && in_dims && in && out_dims && out, MT_ERR_NULL);
    MT_CHECK(mt_act_s8_ok(act_min, act_max), MT_ERR_ARG);
    mt_status status = mt_pool_geometry(params, in_dims, out_dims);
    if (status != MT_OK)
        return status;
    const int32_t N = in_dims->n, H = in_dims->h, W = in_dims->w, C = in_dims->c;
    const int32_t OH = out_dims->h, OW = out_dims->w;

    for (int32_t n = 0; n < N; n++) {
        const int8_t *x_n = in + n * H * W * C;
        for (int32_t oy = 0; oy < OH; oy++) {
            int32_t y0, y1, span;   /* max pooling pads with -inf: only the clipped window counts */
            mt_pool_window(oy * params->stride_h - params->pad_top, params->kernel_h, H, 0,
                           &y0, &y1, &span);
            for (int32_t ox = 0; ox < OW; ox++) {
                int32_t x0, x1;
                mt_pool_window(ox * params->stride_w - params->pad_left, params->kernel_w, W, 0,
                               &x0, &x1, &span);
                int8_t *y = out + ((n * OH + oy) * OW + ox) * C;
                for (int32_t c = 0; c < C; c++) {
                    int32_t best = act_min;   /* max(window) clamped below by act_min */
                    for (int32_t iy = y0; iy < y1; iy++) {
                        const int8_t *x = x_n + iy * W * C + c;
                        for (int32_t ix = x0; ix < x1; ix++)
                            if (x[ix * C] > best)
                                best = x[ix * C];
                    }
                    y[c] = (int8_t)(best > act_max ? act_max : best);
                }
            }
        }
    }
    return MT_OK;
}
