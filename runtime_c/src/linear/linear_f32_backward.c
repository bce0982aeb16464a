/* linear_f32_backward.c - fully connected layer, float32, backward: dX, dW, db.
 * x (N,K), W (O,K), dy (N,O); the shapes follow mt_linear_dims (geometry.h).
 *
 * The fast path adds scaled rows (axpy_f32.h), skipping zero dy (ReLU zeroes
 * about half of them); the plain loops stay as the reference twins
 * (mt_linear_f32_backward_ref, checked against each other in
 * tests/c/test_backward_fast.c). */
#include <string.h>
#include "mt/mt.h"
#include "../support/axpy_f32.h"
#include "../support/backward_ref_f32.h"
#include "../support/check.h"
#include "../support/geometry.h"

/* ---- reference loops ----------------------------------------------------------- */

/* dx[n,k] = sum_o dy[n,o] * W[o,k], o ascending */
static void linear_backward_input(int32_t N, int32_t K, int32_t O, const float *weight,
                                  const float *d_out, float *d_in)
{
    for (int32_t n = 0; n < N; n++) {
        const float *dy = d_out + n * O;
        float *dx = d_in + n * K;
        for (int32_t k = 0; k < K; k++)
            dx[k] = 0.0f;
        for (int32_t o = 0; o < O; o++) {
            const float *w = weight + o * K;
            for (int32_t k = 0; k < K; k++)
                dx[k] += dy[o] * w[k];
        }
    }
}

/* dW rows and db entries of outputs [o_begin, o_end), accumulated into compact blocks:
 *   dW[o,k] += sum_n dy[n,o] * x[n,k];   db[o] += sum_n dy[n,o]                */
static void linear_backward_params(int32_t N, int32_t K, int32_t O, const float *in,
                                   const float *d_out, int32_t o_begin, int32_t o_end,
                                   float *d_weight, float *d_bias)
{
    for (int32_t o = o_begin; o < o_end; o++) {
        if (d_weight) {
            float *dw = d_weight + (o - o_begin) * K;
            for (int32_t k = 0; k < K; k++) {
                float s = 0.0f;
                for (int32_t n = 0; n < N; n++)
                    s += d_out[n * O + o] * in[n * K + k];
                dw[k] += s;
            }
        }
        if (d_bias) {
            float s = 0.0f;
            for (int32_t n = 0; n < N; n++)
                s += d_out[n * O + o];
            d_bias[o - o_begin] += s;
        }
    }
}

/* ---- fast paths ------------------------------------------------------------------ */

/* dx[n,:] = sum over the non-zero dy[n,o] of dy[n,o] * W[o,:], o ascending: the
 * reference's sum without its +-0 terms, so the same value.                    */
static void linear_backward_input_fast(int32_t N, int32_t K, int32_t O, const float *weight,
                                       const float *d_out, float *d_in)
{
    memset(d_in, 0, (size_t)N * (size_t)K * sizeof(float));
    for (int32_t n = 0; n < N; n++) {
        const float *dy = d_out + n * O;
        float *dx = d_in + n * K;
        mt_axpy_group g;
        g.count = 0;
        for (int32_t o = 0; o < O; o++) {
            if (dy[o] == 0.0f)
                continue;
            g.x[g.count] = weight + o * K;
            g.a[g.count++] = dy[o];
            if (g.count == MT_AXPY_GROUP) {
                mt_axpy_group_rows_f32(&g, dx, 0, 0, 1, K);
                g.count = 0;
            }
        }
        mt_axpy_group_rows_f32(&g, dx, 0, 0, 1, K);
    }
}

/* dW[o,:] += dy[n,o] * x[n,:] term by term over the non-zero dy[n,o], n ascending;
 * db[o] += the same dy. (Equal to the reference for N == 1; for N > 1 the
 * reference sums the batch first, then adds.)                                   */
static void linear_backward_params_fast(int32_t N, int32_t K, int32_t O, const float *in,
                                        const float *d_out, int32_t o_begin, int32_t o_end,
                                        float *d_weight, float *d_bias)
{
    for (int32_t o = o_begin; o < o_end; o++) {
        float *dw = d_weight + (o - o_begin) * K;
        float bias_sum = 0.0f;
        mt_axpy_group g;
        g.count = 0;
        for (int32_t n = 0; n < N; n++) {
            const float d = d_out[n * O + o];
            if (d == 0.0f)
                continue;
            bias_sum += d;
            g.x[g.count] = in + n * K;
            g.a[g.count++] = d;
            if (g.count == MT_AXPY_GROUP) {
                mt_axpy_group_rows_f32(&g, dw, 0, 0, 1, K);
                g.count = 0;
            }
        }
        mt_axpy_group_rows_f32(&g, dw, 0, 0, 1, K);
        if (d_bias)
            d_bias[o - o_begin] += bias_sum;
    }
}

/* ---- entry points ---------------------------------------------------------------- */

/* Shared by the public entries (fast = 1) and their reference twins (fast = 0). */
static mt_status linear_backward(const mt_dims *in_dims, const float *in,
                                 const mt_dims *weight_dims, const float *weight,
                                 const mt_dims *out_dims, const float *d_out,
                                 float *d_in, float *d_weight, float *d_bias, int fast)
{
    MT_CHECK(in_dims && weight_dims && out_dims && d_out, MT_ERR_NULL);
    MT_CHECK(!d_weight || in, MT_ERR_NULL);
    MT_CHECK(!d_in || weight, MT_ERR_NULL);
    mt_status st = mt_linear_dims(in_dims, weight_dims, out_dims);
    MT_CHECK(st == MT_OK, st);

    const int32_t N = in_dims->n, K = weight_dims->c, O = weight_dims->n;
    if (d_in) {
        if (fast)
            linear_backward_input_fast(N, K, O, weight, d_out, d_in);
        else
            linear_backward_input(N, K, O, weight, d_out, d_in);
    }
    if (fast && d_weight)
        linear_backward_params_fast(N, K, O, in, d_out, 0, O, d_weight, d_bias);
    else
        linear_backward_params(N, K, O, in, d_out, 0, O, d_weight, d_bias);
    return MT_OK;
}

static mt_status linear_backward_block(const mt_dims *in_dims, const float *in,
                                       const mt_dims *weight_dims,
                                       const mt_dims *out_dims, const float *d_out,
                                       int32_t o_begin, int32_t o_end,
                                       float *d_weight, float *d_bias, int fast)
{
    MT_CHECK(in_dims && weight_dims && out_dims && d_out, MT_ERR_NULL);
    MT_CHECK(!d_weight || in, MT_ERR_NULL);
    mt_status st = mt_linear_dims(in_dims, weight_dims, out_dims);
    MT_CHECK(st == MT_OK, st);
    MT_CHECK(0 <= o_begin && o_begin <= o_end && o_end <= weight_dims->n, MT_ERR_RANGE);
    const int32_t N = in_dims->n, K = weight_dims->c, O = weight_dims->n;
    if (fast && d_weight)
        linear_backward_params_fast(N, K, O, in, d_out, o_begin, o_end, d_weight, d_bias);
    else
        linear_backward_params(N, K, O, in, d_out, o_begin, o_end, d_weight, d_bias);
    return MT_OK;
}

/* Given dy = dL/dy (N,O) (pre-activation):
 *   dx[n,k]  = sum_o dy[n,o] * W[o,k]     (overwritten; needs W)
 *   dW[o,k] += sum_n dy[n,o] * x[n,k]     (accumulated; needs x)
 *   db[o]   += sum_n dy[n,o]              (accumulated)
 * Each gradient output may be NULL and is then skipped. */
mt_status mt_linear_f32_backward(const mt_dims *in_dims, const float *in,
                                 const mt_dims *weight_dims, const float *weight,
                                 const mt_dims *out_dims, const float *d_out,
                                 float *d_in, float *d_weight, float *d_bias)
{
    return linear_backward(in_dims, in, weight_dims, weight, out_dims, d_out,
                           d_in, d_weight, d_bias, 1);
}

mt_status mt_linear_f32_backward_ref(const mt_dims *in_dims, const float *in,
                                     const mt_dims *weight_dims, const float *weight,
                                     const mt_dims *out_dims, const float *d_out,
                                     float *d_in, float *d_weight, float *d_bias)
{
    return linear_backward(in_dims, in, weight_dims, weight, out_dims, d_out,
                           d_in, d_weight, d_bias, 0);
}

/* The parameter gradients of outputs [o_begin, o_end) only, accumulated into
 * compact blocks: d_weight (o_end-o_begin, K), d_bias (o_end-o_begin,). Training
 * updates a layer block by block with it, so dW never exists whole. */
mt_status mt_linear_f32_backward_params(const mt_dims *in_dims, const float *in,
                                        const mt_dims *weight_dims,
                                        const mt_dims *out_dims, const float *d_out,
                                        int32_t o_begin, int32_t o_end,
                                        float *d_weight, float *d_bias)
{
    return linear_backward_block(in_dims, in, weight_dims, out_dims, d_out,
                                 o_begin, o_end, d_weight, d_bias, 1);
}

mt_status mt_linear_f32_backward_params_ref(const mt_dims *in_dims, const float *in,
                                            const mt_dims *weight_dims,
                                            const mt_dims *out_dims, const float *d_out,
                                            int32_t o_begin, int32_t o_end,
                                            float *d_weight, float *d_bias)
{
    return linear_backward_block(in_dims, in, weight_dims, out_dims, d_out,
                                 o_begin, o_end, d_weight, d_bias, 0);
}
