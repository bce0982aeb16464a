/* activation_s8.c - elementwise int8 activations (inference).
 *
 * size elements; out == in is allowed (element i is read before it is written).
 * Neither kernel changes the quantization by itself: clamp keeps the scale and zero
 * point, and a lookup table maps the input's to the output's as the converter
 * folded them into the table.
 */
#include <stdint.h>
#include "mt/mt.h"
#include "../support/check.h"
#include "../support/requant.h"

/* y = min(max(x, lo), hi), -128 <= lo <= hi <= 127 (ReLU / ReLU6 / Clip). */
mt_status mt_clamp_s8(int32_t lo, int32_t hi, int32_t size, const int8_t *in, int8_t *out)
{
    MT_CHECK(in && out, MT_ERR_NULL);
    MT_CHECK(mt_act_s8_ok(lo, hi), MT_ERR_ARG);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    for (int32_t i = 0; i < size; i++) {
        int32_t v = in[i];
        if (v < lo) v = lo;
        if (v > hi) v = hi;
        out[i] = (int8_t)v;
    }
    return MT_OK;
}

/* y = table[x + 128]: table has 256 entries, entry k for the input value k - 128. */
mt_status mt_lut_s8(const int8_t *table, int32_t size, const int8_t *in, int8_t *out)
{
    MT_CHECK(table && in && out, MT_ERR_NULL);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    for (int32_t i = 0; i < size; i++)
        out[i] = table[(int32_t)in[i] + 128];
    return MT_OK;
}
