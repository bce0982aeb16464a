/* avgpool2d_s8.c - 2-D and global average pooling, int8 (inference), the twins of
 * avgpool2d_f32.c.
 *
 * in (N,H,W,C) -> out (N,OH,OW,C), same scale and zero point. Windows and divisors
 * exactly as the float kernel: the window of output oy starts at start = oy*sh - pt
 * and ends at min(start + kh, H + pb); its size before clipping to the real input is
 * the divisor when count_include_pad != 0, else the number of real taps is. The
 * kernel averages the stored values; a counted padding tap adds the stored value 0:
 *   y = clamp( round(sum_{real taps} x / divisor), act_min, act_max )
 * rounding to nearest, ties away from zero (as TFLite).
 *
 * Zero point caveat: the real average of a window is s*(sum(x - zp)/divisor) and
 * its quantized value sum(x - zp)/divisor + zp = (sum x + (divisor - taps)*zp) /
 * divisor, so the kernel matches the real-valued average (up to the rounding)
 * whenever divisor == taps (count_include_pad == 0, TFLite's only mode, or a
 * window without counted padding) or zp == 0. The API has no zero point, so for count_include_pad != 0
 * with padding and zp != 0 a padding tap counts as the real value -s*zp, not 0;
 * the converter must not map such a layer here (pad explicitly instead).
 *
 * Windows of more than 65536 taps (kh*kw, or H*W for the global pool) are
 * MT_ERR_UNSUPPORTED: that bounds the int32 sum.
 */
#include <stdint.h>
#include "mt/mt.h"
#include "../support/check.h"
#include "../support/geometry.h"
#include "../support/requant.h"

/* sum / divisor rounded to nearest, ties away from zero; divisor >= 1. C99 division
 * truncates toward zero, so rounding the magnitude and restoring the sign is exact:
 * |sum| = q*d + r rounds up iff r >= d - d/2, i.e. iff r + d/2 >= d.            */
static int32_t div_round_away(int32_t sum, int32_t divisor)
{
    return sum >= 0 ? (sum + divisor / 2) / divisor
                    : -((-sum + divisor / 2) / divisor);
}

static int8_t clamp_s8(int32_t v, int32_t lo, int32_t hi)
{
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* Parameter (MT_ERR_ARG), shape (MT_ERR_SHAPE) and window size (MT_ERR_UNSUPPORTED)
 * checks; the caller checks pointers first. */
static mt_status avgpool_check(const mt_pool_params *p, const mt_dims *in,
                               const mt_dims *out)
{
    mt_status st = mt_pool_geometry(p, in, out);
    MT_CHECK(st == MT_OK, st);
    MT_CHECK((int64_t)p->kernel_h * p->kernel_w <= MT_S8_MAX_REDUCTION, MT_ERR_UNSUPPORTED);
    return MT_OK;
}

mt_status mt_avgpool2d_s8(const mt_pool_params *params, int32_t act_min, int32_t act_max,
                          const mt_dims *in_dims, const int8_t *in,
                          const mt_dims *out_dims, int8_t *out)
{
    MT_CHECK(params && in_dims && in && out_dims && out, MT_ERR_NULL);
    MT_CHECK(mt_act_s8_ok(act_min, act_max), MT_ERR_ARG);
    mt_status status = avgpool_check(params, in_dims, out_dims);
    if (status != MT_OK)
        return status;
    const int32_t N = in_dims->n, H = in_dims->h, W = in_dims->w, C = in_dims->c;
    const int32_t OH = out_dims->h, OW = out_dims->w;

    for (int32_t n = 0; n < N; n++) {
        const int8_t *x_n = in + n * H * W * C;
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
                int8_t *y = out + ((n * OH + oy) * OW + ox) * C;
                for (int32_t c = 0; c < C; c++) {
                    /* Overflow: at most kh*kw <= 65536 taps of |x| <= 128, so
                     * |sum| <= 2^23, and sum + divisor/2 <= 2^23 + 2^15.          */
                    int32_t sum = 0;
                    for (int32_t iy = y0; iy < y1; iy++) {
                        const int8_t *x = x_n + iy * W * C + c;
                        for (int32_t ix = x0; ix < x1; ix++)
                            sum += x[ix * C];
                    }
                    y[c] = clamp_s8(div_round_away(sum, divisor), act_min, act_max);
                }
            }
        }
    }
    return MT_OK;
}

/* in (N,H,W,C) -> out (N,1,1,C):  y[n,c] = clamp(round(sum_{h,w} x[n,h,w,c] / (H*W)))
 * H*W > 65536 is MT_ERR_UNSUPPORTED.                                          */
mt_status mt_global_avgpool_s8(int32_t act_min, int32_t act_max,
                               const mt_dims *in_dims, const int8_t *in, int8_t *out)
{
    MT_CHECK(in_dims && in && out, MT_ERR_NULL);
    MT_CHECK(mt_act_s8_ok(act_min, act_max), MT_ERR_ARG);
    MT_CHECK(mt_dims_ok(in_dims), MT_ERR_SHAPE);
    const int32_t N = in_dims->n, HW = in_dims->h * in_dims->w, C = in_dims->c;
    MT_CHECK(HW <= MT_S8_MAX_REDUCTION, MT_ERR_UNSUPPORTED);

    for (int32_t n = 0; n < N; n++) {
        const int8_t *x_n = in + n * HW * C;
        for (int32_t c = 0; c < C; c++) {
            /* Overflow: HW <= 65536 taps of |x| <= 128: |sum| <= 2^23, and
             * sum + HW/2 <= 2^23 + 2^15.                                        */
            int32_t sum = 0;
            for (int32_t p = 0; p < HW; p++)
                sum += x_n[p * C + c];
            out[n * C + c] = clamp_s8(div_round_away(sum, HW), act_min, act_max);
        }
    }
    return MT_OK;
}
