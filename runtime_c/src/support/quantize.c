/* quantize.c - the float boundary of the int8 path: quantize / dequantize (I/O).
 *
 * The only int8-path file that uses float. Arithmetic is float32 (no double; see
 * docs/design.md, Numbers), so the Python reference reproduces it bit for bit:
 *   quantize   q = clamp( roundf(x / scale) + zero_point, -128, 127 )
 *              (roundf: half away from zero; x / scale is one float32 division)
 *   dequantize x = (float)(q - zero_point) * scale   (one float32 multiply; exact
 *              integer q - zero_point)
 * scale must be finite and > 0 and zero_point in [-128, 127] (MT_ERR_ARG).
 *
 * Non-finite input to quantize: +-Inf saturates to 127 / -128 like any value out of
 * range; NaN has no int8 value, so quantize returns MT_ERR_NONFINITE. The input is
 * scanned first, so on that error out is left untouched (nothing half-written).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include "mt/mt.h"
#include "check.h"

/* scale finite and > 0 (rejects NaN too), zero_point an int8 value. */
static int qparams_ok(float scale, int32_t zero_point)
{
    return scale > 0.0f && scale <= FLT_MAX &&
           zero_point >= -128 && zero_point <= 127;
}

mt_status mt_quantize_s8(float scale, int32_t zero_point, int32_t size, const float *in,
                         int8_t *out)
{
    MT_CHECK(in && out, MT_ERR_NULL);
    MT_CHECK(qparams_ok(scale, zero_point), MT_ERR_ARG);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    for (int32_t i = 0; i < size; i++)
        MT_CHECK(in[i] == in[i], MT_ERR_NONFINITE);   /* NaN is the only x != x */

    for (int32_t i = 0; i < size; i++) {
        float v = in[i] / scale;
        /* Limit before converting to int (also maps +-Inf): any |v| >= 256 saturates
         * after adding |zero_point| <= 128, and rounding +-256 is exact.          */
        if (v > 256.0f) v = 256.0f;
        if (v < -256.0f) v = -256.0f;
        int32_t q = (int32_t)roundf(v) + zero_point;
        if (q < -128) q = -128;
        if (q > 127) q = 127;
        out[i] = (int8_t)q;
    }
    return MT_OK;
}

mt_status mt_dequantize_s8(float scale, int32_t zero_point, int32_t size, const int8_t *in,
                           float *out)
{
    MT_CHECK(in && out, MT_ERR_NULL);
    MT_CHECK(qparams_ok(scale, zero_point), MT_ERR_ARG);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    for (int32_t i = 0; i < size; i++)
        out[i] = (float)((int32_t)in[i] - zero_point) * scale;
    return MT_OK;
}
