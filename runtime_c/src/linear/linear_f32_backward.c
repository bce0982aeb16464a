/* linear_f32_backward.c - fully connected layer, float32, backward: dX, dW, db.
 * x (N,K), W (O,K), dy (N,O); the shapes follow mt_linear_dims (geometry.h). */
#include "mt/mt.h"
#include "../support/check.h"
#include "../support/dot.h"
#include "../support/geometry.h"

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
    MT_CHECK(in_dims && weight_dims && out_dims && d_out, MT_ERR_NULL);
    MT_CHECK(!d_weight || in, MT_ERR_NULL);
    MT_CHECK(!d_in || weight, MT_ERR_NULL);
    mt_status st = mt_linear_dims(in_dims, weight_dims, out_dims);
    MT_CHECK(st == MT_OK, st);

    const int32_t N = in_dims->n, K = weight_dims->c, O = weight_dims->n;
    if (d_in) {
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
    linear_backward_params(N, K, O, in, d_out, 0, O, d_weight, d_bias);
    return MT_OK;
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
    MT_CHECK(in_dims && weight_dims && out_dims && d_out, MT_ERR_NULL);
    MT_CHECK(!d_weight || in, MT_ERR_NULL);
    mt_status st = mt_linear_dims(in_dims, weight_dims, out_dims);
    MT_CHECK(st == MT_OK, st);
    MT_CHECK(0 <= o_begin && o_begin <= o_end && o_end <= weight_dims->n, MT_ERR_RANGE);
    linear_backward_params(in_dims->n, weight_dims->c, weight_dims->n, in, d_out,
                           o_begin, o_end, d_weight, d_bias);
    return MT_OK;
}
