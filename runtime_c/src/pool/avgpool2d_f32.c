/* avgpool2d_f32.c - 2-D and global average pooling, float32, forward and backward.
 *
 * in (N,H,W,C) -> out (N,OH,OW,C). Padding is zeros. The window of output oy
 * starts at start = oy*sh - pt and, exactly as PyTorch's avg_pool2d, ends at
 * min(start + kh, H + pb); its size before clipping to the real input is the
 * divisor when count_include_pad != 0, else the number of real taps is. (So a
 * ceil_mode window running past the bottom padding does not count the overhang.)
 * Each pad is smaller than the kernel (as ONNX Runtime requires), so every
 * window holds at least one real tap.
 */
#include <stdint.h>
#include "mt/mt.h"
#include "../support/check.h"
#include "../support/geometry.h"

/* y[n,oy,ox,c] = sum_{iy,ix in the window} x[n,iy,ix,c] / divisor           */
mt_status mt_avgpool2d_f32(const mt_pool_params *params,
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
            int32_t y0, y1, padded_h;
            mt_pool_window(oy * params->stride_h - params->pad_top, params->kernel_h, H,
                       params->pad_bottom, &y0, &y1, &padded_h);
            for (int32_t ox = 0; ox < OW; ox++) {
                int32_t x0, x1, padded_w;
                mt_pool_window(ox * params->stride_w - params->pad_left, params->kernel_w, W,
                           params->pad_right, &x0, &x1, &padded_w);
                const int32_t divisor = params->count_include_pad
                                        ? padded_h * padded_w : (y1 - y0) * (x1 - x0);
                float *y = out + ((n * OH + oy) * OW + ox) * C;
                for (int32_t c = 0; c < C; c++) {
                    float sum = 0.0f;
                    for (int32_t iy = y0; iy < y1; iy++) {
                        const float *x = x_n + iy * W * C + c;
                        for (int32_t ix = x0; ix < x1; ix++)
                            sum += x[ix * C];
                    }
                    y[c] = sum / (float)divisor;
                }
            }
        }
    }
    return MT_OK;
}

/* d_in (N,H,W,C), overwritten: each output's gradient is spread evenly over
 * the real taps of its window (overlapping windows add up):
 *   dx[n,iy,ix,c] = sum over windows holding (iy, ix) of dy[n,oy,ox,c] / divisor
 * d_in == NULL computes nothing.                                             */
mt_status mt_avgpool2d_f32_backward(const mt_pool_params *params,
                                    const mt_dims *in_dims,
                                    const mt_dims *out_dims, const float *d_out,
                                    float *d_in)
{
    MT_CHECK(params && in_dims && out_dims && d_out, MT_ERR_NULL);
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
        float *dx_n = d_in + n * H * W * C;
        for (int32_t oy = 0; oy < OH; oy++) {
            int32_t y0, y1, padded_h;
            mt_pool_window(oy * params->stride_h - params->pad_top, params->kernel_h, H,
                       params->pad_bottom, &y0, &y1, &padded_h);
            for (int32_t ox = 0; ox < OW; ox++) {
                int32_t x0, x1, padded_w;
                mt_pool_window(ox * params->stride_w - params->pad_left, params->kernel_w, W,
                           params->pad_right, &x0, &x1, &padded_w);
                const int32_t divisor = params->count_include_pad
                                        ? padded_h * padded_w : (y1 - y0) * (x1 - x0);
                const float *dy = d_out + ((n * OH + oy) * OW + ox) * C;
                for (int32_t c = 0; c < C; c++) {
                    const float share = dy[c] / (float)divisor;
                    for (int32_t iy = y0; iy < y1; iy++) {
                        float *dx = dx_n + iy * W * C + c;
                        for (int32_t ix = x0; ix < x1; ix++)
                            dx[ix * C] += share;
                    }
                }
            }
        }
    }
    return MT_OK;
}

/* in (N,H,W,C) -> out (N,1,1,C):  y[n,c] = sum_{h,w} x[n,h,w,c] / (H*W)      */
mt_status mt_global_avgpool_f32(const mt_dims *in_dims, const float *in, float *out)
{
    MT_CHECK(in_dims && in && out, MT_ERR_NULL);
    MT_CHECK(mt_dims_ok(in_dims), MT_ERR_SHAPE);
    const int32_t N = in_dims->n, HW = in_dims->h * in_dims->w, C = in_dims->c;

    for (int32_t n = 0; n < N; n++) {
        const float *x_n = in + n * HW * C;
        for (int32_t c = 0; c < C; c++) {
            float sum = 0.0f;
            for (int32_t p = 0; p < HW; p++)
                sum += x_n[p * C + c];
            out[n * C + c] = sum / (float)HW;
        }
    }
    return MT_OK;
}

/* d_out (N,1,1,C) -> d_in (N,H,W,C), overwritten:  dx[n,h,w,c] = dy[n,c] / (H*W).
 * d_in == NULL computes nothing.                                             */
mt_status mt_global_avgpool_f32_backward(const mt_dims *in_dims, const float *d_out,
                                         float *d_in)
{
    MT_CHECK(in_dims && d_out, MT_ERR_NULL);
    MT_CHECK(mt_dims_ok(in_dims), MT_ERR_SHAPE);
    if (!d_in)
        return MT_OK;
    const int32_t N = in_dims->n, HW = in_dims->h * in_dims->w, C = in_dims->c;

    for (int32_t n = 0; n < N; n++) {
        for (int32_t p = 0; p < HW; p++) {
            float *dx = d_in + (n * HW + p) * C;
            for (int32_t c = 0; c < C; c++)
                dx[c] = d_out[n * C + c] / (float)HW;
        }
    }
    return MT_OK;
}
