/* maxpool2d_f32.c - 2-D max pooling, float32, forward and backward.
 *
 * in (N,H,W,C) -> out (N,OH,OW,C). The window of output (oy, ox) covers rows
 * oy*sh - pt .. oy*sh - pt + kh - 1 (columns likewise); padding is -inf, so the
 * window is simply clipped to the real input. Each pad is smaller than the
 * kernel (as ONNX Runtime requires), so no window lies wholly in the padding.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "mt/mt.h"
#include "../support/backward_ref_f32.h"
#include "../support/check.h"
#include "../support/f32_reference.h"
#include "../support/geometry.h"

/* The update every forward path applies tap by tap, in row-major window order:
 * take v if it is larger or NaN, so a NaN in the window gives NaN (as PyTorch). */
static float max_or_nan(float best, float v)
{
    return (v > best || isnan(v)) ? v : best;
}

/* y[n,oy,ox,c] = max_{iy,ix in the window} x[n,iy,ix,c]; a NaN in the window
 * gives NaN (as PyTorch). fast == 0 is the reference loop (any window, one
 * channel at a time from -inf); the fast path takes windows that clip to exactly
 * 2x2 (LeNet's pools) with four row pointers and the channel loop innermost,
 * starting from the first tap, which the first update from -inf would give
 * bit for bit. Same taps, same order, same update: the same output.        */
static mt_status maxpool_forward(const mt_pool_params *params,
                                 const mt_dims *in_dims, const float *in,
                                 const mt_dims *out_dims, float *out, int fast)
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
                if (fast && y1 - y0 == 2 && x1 - x0 == 2) {
                    const float *a = x_n + (y0 * W + x0) * C, *b = a + C;   /* row y0 */
                    const float *c = a + W * C, *d = c + C;                 /* row y0 + 1 */
                    for (int32_t i = 0; i < C; i++) {
                        float best = a[i];
                        best = max_or_nan(best, b[i]);
                        best = max_or_nan(best, c[i]);
                        y[i] = max_or_nan(best, d[i]);
                    }
                    continue;
                }
                for (int32_t c = 0; c < C; c++) {
                    float best = -INFINITY;
                    for (int32_t iy = y0; iy < y1; iy++) {
                        const float *x = x_n + iy * W * C + c;
                        for (int32_t ix = x0; ix < x1; ix++)
                            best = max_or_nan(best, x[ix * C]);
                    }
                    y[c] = best;
                }
            }
        }
    }
    return MT_OK;
}

mt_status mt_maxpool2d_f32(const mt_pool_params *params,
                           const mt_dims *in_dims, const float *in,
                           const mt_dims *out_dims, float *out)
{
    return maxpool_forward(params, in_dims, in, out_dims, out, 1);
}

/* The reference loop alone (f32_reference.h; tests compare the two paths). */
mt_status mt_maxpool2d_f32_reference(const mt_pool_params *params,
                                     const mt_dims *in_dims, const float *in,
                                     const mt_dims *out_dims, float *out)
{
    return maxpool_forward(params, in_dims, in, out_dims, out, 0);
}

/* d_in (N,H,W,C), overwritten:
 *   dx[n,iy,ix,c] = sum over the windows whose first maximum (row-major scan,
 *                   strict '>') is (iy, ix) of dy[n,oy,ox,c].
 * Needs the forward input; d_in == NULL computes nothing.
 * The reference loop (fast == 0) searches every window; the fast one zeroes d_in
 * with memset, skips the windows whose dy is zero (their sum would not change),
 * steps through each window by pointer and unrolls whole 2x2 windows. Both pick
 * the same tap.                                                              */
static mt_status maxpool_backward(const mt_pool_params *params,
                                  const mt_dims *in_dims, const float *in,
                                  const mt_dims *out_dims, const float *d_out,
                                  float *d_in, int fast)
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
    if (fast)
        memset(d_in, 0, (size_t)count * sizeof(float));
    else
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
                if (fast) {
                    /* first tap of the window, channel 0; taps step by C, rows by W*C */
                    const int32_t first = (y0 * W + x0) * C, kw = (x1 - x0) * C, row = W * C;
                    if (y1 - y0 == 2 && kw == 2 * C) {
                        /* A whole 2x2 window: its taps are p[0], p[C], p[row], p[row+C].
                         * The scan's first step always takes the first tap. */
                        for (int32_t c = 0; c < C; c++) {
                            if (dy[c] == 0.0f)
                                continue;
                            const float *p = x_n + first + c, *best_at = p;
                            float best = p[0], v = p[C];
                            if (v > best || isnan(v)) { best = v; best_at = p + C; }
                            v = p[row];
                            if (v > best || isnan(v)) { best = v; best_at = p + row; }
                            v = p[row + C];
                            if (v > best || isnan(v)) best_at = p + row + C;
                            dx_n[best_at - x_n] += dy[c];
                        }
                        continue;
                    }
                    for (int32_t c = 0; c < C; c++) {
                        if (dy[c] == 0.0f)
                            continue;
                        const float *best_at = x_n + first + c;
                        float best = -INFINITY;
                        for (int32_t r = 0; r < y1 - y0; r++) {
                            const float *xr = x_n + first + c + r * row;
                            for (int32_t t = 0; t < kw; t += C) {
                                const float v = xr[t];
                                if (v > best || isnan(v)) {
                                    best = v;
                                    best_at = xr + t;
                                }
                            }
                        }
                        dx_n[best_at - x_n] += dy[c];
                    }
                    continue;
                }
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

mt_status mt_maxpool2d_f32_backward(const mt_pool_params *params,
                                    const mt_dims *in_dims, const float *in,
                                    const mt_dims *out_dims, const float *d_out,
                                    float *d_in)
{
    return maxpool_backward(params, in_dims, in, out_dims, d_out, d_in, 1);
}

/* The reference twin (backward_ref_f32.h). */
mt_status mt_maxpool2d_f32_backward_ref(const mt_pool_params *params,
                                        const mt_dims *in_dims, const float *in,
                                        const mt_dims *out_dims, const float *d_out,
                                        float *d_in)
{
    return maxpool_backward(params, in_dims, in, out_dims, d_out, d_in, 0);
}
