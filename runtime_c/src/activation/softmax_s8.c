/* softmax_s8.c - softmax over the last axis (rows x cols), int8 (inference).
 *
 * Output scale 1/256, zero point -128 (as TFLite). With m the row maximum,
 *   e[j] = exp_table[m - x[j]]       (m - x[j] in 0..255)
 *   y[j] = clamp( round_half_up(256 * e[j] / sum_k e[k]) - 128, -128, 127 )
 * exp_table[d] = round(2^23 * exp(-d * s_in)) is made by the converter
 * (pyconvert.quant.scales.softmax_exp_table). The table is validated once per
 * call: every entry in [0, 2^23] and exp_table[0] >= 1 (MT_ERR_ARG otherwise), so
 * the row maximum contributes e >= 1 and the sum is never 0.
 *
 * Integer arithmetic, in uint32: sum <= cols * 2^23 <= 2^31 (cols <= 256; note
 * 2^31 itself does not fit int32, hence unsigned), and
 *   round_half_up(256*e / sum) = floor((256*e + floor(sum/2)) / sum)
 * with 256*e + sum/2 <= 2^31 + 2^30 < 2^32. This is the same integer as the
 * int64 expression (256*e + sum/2) / sum, but needs only a 32-bit divide (one
 * UDIV on Cortex-M3/M4). The quotient is in 0..256; 256 (one element holding all
 * the mass) clamps to 127.
 *
 * out == in is allowed: each row is read completely (max and sum) before any of
 * its outputs is written. cols > 256 is MT_ERR_UNSUPPORTED.
 */
#include <stdint.h>
#include "mt/mt.h"
#include "../support/check.h"

#define EXP_ONE (INT32_C(1) << 23)   /* exp_table entries are Q23 */

mt_status mt_softmax_s8(const int32_t *exp_table, int32_t rows, int32_t cols,
                        const int8_t *in, int8_t *out)
{
    MT_CHECK(exp_table && in && out, MT_ERR_NULL);
    for (int32_t d = 0; d < 256; d++)
        MT_CHECK(exp_table[d] >= 0 && exp_table[d] <= EXP_ONE, MT_ERR_ARG);
    MT_CHECK(exp_table[0] >= 1, MT_ERR_ARG);
    MT_CHECK(rows >= 1 && cols >= 1 && (int64_t)rows * cols <= INT32_MAX, MT_ERR_SHAPE);
    MT_CHECK(cols <= 256, MT_ERR_UNSUPPORTED);

    for (int32_t r = 0; r < rows; r++) {
        const int8_t *x = in + r * cols;
        int8_t *y = out + r * cols;
        int32_t m = x[0];
        for (int32_t j = 1; j < cols; j++)
            if (x[j] > m) m = x[j];
        /* Overflow: cols <= 256 terms, each <= 2^23: sum <= 2^31 < 2^32 (uint32). */
        uint32_t sum = 0;
        for (int32_t j = 0; j < cols; j++)
            sum += (uint32_t)exp_table[m - x[j]];
        const uint32_t half = sum / 2;
        for (int32_t j = 0; j < cols; j++) {
            const uint32_t e = (uint32_t)exp_table[m - x[j]];
            const int32_t q = (int32_t)(((uint32_t)256 * e + half) / sum);   /* 0 .. 256 */
            y[j] = (int8_t)(q > 255 ? 127 : q - 128);
        }
    }
    return MT_OK;
}
