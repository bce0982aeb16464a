/* linear_f32.c - fully connected layer (torch.nn.Linear), forward
 * (backward: linear_f32_backward.c). */
#include "mt/mt.h"
#include "../support/check.h"
#include "../support/dot.h"
#include "../support/geometry.h"

/* x (N,K), W (O,K), b (O,) or NULL -> y (N,O):
 *   y[n,o] = clamp( sum_k x[n,k] * W[o,k] + b[o], act->lo, act->hi )
 * act NULL is the identity. NaN passes through the clamp (as torch.clamp). */
mt_status mt_linear_f32(const mt_range_f32 *act,
                        const mt_dims *in_dims, const float *in,
                        const mt_dims *weight_dims, const float *weight,
                        const float *bias,
                        const mt_dims *out_dims, float *out)
{
    MT_CHECK(in_dims && in && weight_dims && weight && out_dims && out, MT_ERR_NULL);
    MT_CHECK(!act || act->lo <= act->hi, MT_ERR_ARG);   /* also rejects NaN */
    mt_status st = mt_linear_dims(in_dims, weight_dims, out_dims);
    MT_CHECK(st == MT_OK, st);

    const int32_t N = in_dims->n, K = weight_dims->c, O = weight_dims->n;
    for (int32_t n = 0; n < N; n++) {
        const float *x = in + n * K;
        float *y = out + n * O;
        for (int32_t o = 0; o < O; o++) {
            float acc = mt_dot_f32(x, weight + o * K, K, 0.0f);
            if (bias)
                acc += bias[o];
            if (act) {
                if (acc < act->lo) acc = act->lo;
                if (acc > act->hi) acc = act->hi;
            }
            y[o] = acc;
        }
    }
    return MT_OK;
}
