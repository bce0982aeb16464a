/* activation_f32.c - elementwise activations, forward and backward.
 *
 * All take size elements and allow out == in (and d_in == d_out): element i is
 * read before it is written. Backward kernels take the forward OUTPUT y.
 * A NULL d_in skips the (only) gradient; y may then be NULL too. NaN inputs
 * give NaN outputs (as PyTorch), except step, which maps NaN to 0.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "mt/mt.h"
#include "../support/check.h"
#include "../support/mt_math.h"

/* Shared validation of a backward call: d_out always, y only if d_in is wanted. */
#define CHECK_BACKWARD_PTRS(out, d_out, d_in) \
    MT_CHECK((d_out) && (!(d_in) || (out)), MT_ERR_NULL)

/* ---- relu -------------------------------------------------------------------- */

/* y = max(x, 0) */
mt_status mt_relu_f32(int32_t size, const float *in, float *out)
{
    MT_CHECK(in && out, MT_ERR_NULL);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    for (int32_t i = 0; i < size; i++)
        out[i] = in[i] < 0.0f ? 0.0f : in[i];
    return MT_OK;
}

/* dx = y > 0 ? dy : 0 */
mt_status mt_relu_f32_backward(int32_t size, const float *out, const float *d_out,
                               float *d_in)
{
    CHECK_BACKWARD_PTRS(out, d_out, d_in);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    if (!d_in)
        return MT_OK;
    for (int32_t i = 0; i < size; i++)
        d_in[i] = out[i] > 0.0f ? d_out[i] : 0.0f;
    return MT_OK;
}

/* ---- clip -------------------------------------------------------------------- */

/* y = min(max(x, lo), hi), lo <= hi */
mt_status mt_clip_f32(const mt_range_f32 *range, int32_t size, const float *in,
                      float *out)
{
    MT_CHECK(range && in && out, MT_ERR_NULL);
    MT_CHECK(range->lo <= range->hi, MT_ERR_ARG);   /* also rejects NaN */
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    const float lo = range->lo, hi = range->hi;
    for (int32_t i = 0; i < size; i++) {
        float v = in[i];
        if (v < lo) v = lo;
        if (v > hi) v = hi;
        out[i] = v;
    }
    return MT_OK;
}

/* dx = lo < y < hi ? dy : 0   (exclusive, as hardtanh) */
mt_status mt_clip_f32_backward(const mt_range_f32 *range, int32_t size,
                               const float *out, const float *d_out, float *d_in)
{
    MT_CHECK(range, MT_ERR_NULL);
    CHECK_BACKWARD_PTRS(out, d_out, d_in);
    MT_CHECK(range->lo <= range->hi, MT_ERR_ARG);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    if (!d_in)
        return MT_OK;
    const float lo = range->lo, hi = range->hi;
    if (d_in == d_out && lo == 0.0f && hi == INFINITY) {
        /* ReLU in place (training's fused clamp), the same result with integer tests:
         * 0 < y < +Inf exactly when y's bits b satisfy 1 <= b <= 0x7f7fffff (-0,
         * negatives and negative NaNs have the sign bit set; +Inf is 0x7f800000 and
         * positive NaNs lie above it). Only the blocked entries are written. */
        for (int32_t i = 0; i < size; i++) {
            uint32_t b;
            memcpy(&b, &out[i], sizeof b);
            if (b - 1u >= 0x7f7fffffu)
                d_in[i] = 0.0f;
        }
        return MT_OK;
    }
    for (int32_t i = 0; i < size; i++)
        d_in[i] = (out[i] > lo && out[i] < hi) ? d_out[i] : 0.0f;
    return MT_OK;
}

/* ---- leaky relu -------------------------------------------------------------- */

/* y = x > 0 ? x : alpha*x, 0 <= alpha < inf */
mt_status mt_leaky_relu_f32(float alpha, int32_t size, const float *in, float *out)
{
    MT_CHECK(in && out, MT_ERR_NULL);
    MT_CHECK(alpha >= 0.0f && isfinite(alpha), MT_ERR_ARG);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    for (int32_t i = 0; i < size; i++)
        out[i] = in[i] > 0.0f ? in[i] : alpha * in[i];
    return MT_OK;
}

/* dx = y > 0 ? dy : alpha*dy   (alpha >= 0, so y > 0 exactly when x > 0) */
mt_status mt_leaky_relu_f32_backward(float alpha, int32_t size, const float *out,
                                     const float *d_out, float *d_in)
{
    CHECK_BACKWARD_PTRS(out, d_out, d_in);
    MT_CHECK(alpha >= 0.0f && isfinite(alpha), MT_ERR_ARG);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    if (!d_in)
        return MT_OK;
    for (int32_t i = 0; i < size; i++)
        d_in[i] = out[i] > 0.0f ? d_out[i] : alpha * d_out[i];
    return MT_OK;
}

/* ---- sigmoid ----------------------------------------------------------------- */

/* y = 1 / (1 + exp(-x)), computed from e = exp(-|x|) <= 1 so nothing overflows:
 * x >= 0: y = 1 / (1 + e);  x < 0: y = e / (1 + e). */
mt_status mt_sigmoid_f32(int32_t size, const float *in, float *out)
{
    MT_CHECK(in && out, MT_ERR_NULL);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    for (int32_t i = 0; i < size; i++) {
        float x = in[i];
        float e = mt_expf(-fabsf(x));
        out[i] = x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    }
    return MT_OK;
}

/* dx = dy * (1 - y) * y */
mt_status mt_sigmoid_f32_backward(int32_t size, const float *out, const float *d_out,
                                  float *d_in)
{
    CHECK_BACKWARD_PTRS(out, d_out, d_in);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    if (!d_in)
        return MT_OK;
    for (int32_t i = 0; i < size; i++)
        d_in[i] = d_out[i] * (1.0f - out[i]) * out[i];
    return MT_OK;
}

/* ---- tanh -------------------------------------------------------------------- */

/* y = tanh(x) */
mt_status mt_tanh_f32(int32_t size, const float *in, float *out)
{
    MT_CHECK(in && out, MT_ERR_NULL);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    for (int32_t i = 0; i < size; i++)
        out[i] = mt_tanhf(in[i]);
    return MT_OK;
}

/* dx = dy * (1 - y^2) */
mt_status mt_tanh_f32_backward(int32_t size, const float *out, const float *d_out,
                               float *d_in)
{
    CHECK_BACKWARD_PTRS(out, d_out, d_in);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    if (!d_in)
        return MT_OK;
    for (int32_t i = 0; i < size; i++)
        d_in[i] = d_out[i] * (1.0f - out[i] * out[i]);
    return MT_OK;
}

/* ---- step -------------------------------------------------------------------- */

/* y = x > 0 ? 1 : 0   (torch.heaviside(x, values=0)) */
mt_status mt_step_f32(int32_t size, const float *in, float *out)
{
    MT_CHECK(in && out, MT_ERR_NULL);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    for (int32_t i = 0; i < size; i++)
        out[i] = in[i] > 0.0f ? 1.0f : 0.0f;
    return MT_OK;
}

/* dx = 0: the derivative of a step is zero almost everywhere. */
mt_status mt_step_f32_backward(int32_t size, const float *out, const float *d_out,
                               float *d_in)
{
    CHECK_BACKWARD_PTRS(out, d_out, d_in);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    if (!d_in)
        return MT_OK;
    for (int32_t i = 0; i < size; i++)
        d_in[i] = 0.0f;
    return MT_OK;
}
