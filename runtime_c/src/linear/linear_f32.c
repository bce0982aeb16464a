/* linear_f32.c - fully connected layer (torch.nn.Linear), forward
 * (backward: linear_f32_backward.c).
 *
 * Summation order (every path): acc = 0, then acc += x[k]*W[o,k] for k = 0..K-1,
 * then acc += b[o], then the clamp. The blocked fast path below computes ROWS
 * outputs per pass over x with that same order for each, so it is bit-identical
 * to the one-row reference loop (mt_mla_f32 is an unfused multiply-add).      */
#include "mt/mt.h"
#include "../support/check.h"
#include "../support/dot.h"
#include "../support/geometry.h"
#include "../support/mla_f32.h"
#include "../support/f32_reference.h"

/* Outputs per pass over x: 8 accumulators in FPU registers; each x[k] loaded
 * feeds 8 multiply-adds (about 2.4 instructions per MAC on a Cortex-M4F). */
#define ROWS 8

static float finish(float acc, const float *bias, int32_t o, const mt_range_f32 *act)
{
    if (bias)
        acc += bias[o];
    if (act) {
        if (acc < act->lo) acc = act->lo;
        if (acc > act->hi) acc = act->hi;
    }
    return acc;
}

/* acc[r] = sum_{k<K} x[k] * w[r][k], k in order, for r < ROWS (K >= 1). */
static void linear_rows8(const float *x, const float *const w[ROWS], int32_t K, float acc[ROWS])
{
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f, a4 = 0.0f, a5 = 0.0f, a6 = 0.0f, a7 = 0.0f;
    const float *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
    const float *w4 = w[4], *w5 = w[5], *w6 = w[6], *w7 = w[7];
    int32_t k = K;
    do {
        const float v = *x++;
        a0 = mt_mla_f32(a0, v, *w0++);
        a1 = mt_mla_f32(a1, v, *w1++);
        a2 = mt_mla_f32(a2, v, *w2++);
        a3 = mt_mla_f32(a3, v, *w3++);
        a4 = mt_mla_f32(a4, v, *w4++);
        a5 = mt_mla_f32(a5, v, *w5++);
        a6 = mt_mla_f32(a6, v, *w6++);
        a7 = mt_mla_f32(a7, v, *w7++);
    } while (--k);
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
    acc[4] = a4; acc[5] = a5; acc[6] = a6; acc[7] = a7;
}

static mt_status linear_check(const mt_range_f32 *act,
                              const mt_dims *in_dims, const float *in,
                              const mt_dims *weight_dims, const float *weight,
                              const mt_dims *out_dims, float *out)
{
    MT_CHECK(in_dims && in && weight_dims && weight && out_dims && out, MT_ERR_NULL);
    MT_CHECK(!act || act->lo <= act->hi, MT_ERR_ARG);   /* also rejects NaN */
    return mt_linear_dims(in_dims, weight_dims, out_dims);
}

/* x (N,K), W (O,K), b (O,) or NULL -> y (N,O):
 *   y[n,o] = clamp( sum_k x[n,k] * W[o,k] + b[o], act->lo, act->hi )
 * act NULL is the identity. NaN passes through the clamp (as torch.clamp).
 * Rows go ROWS at a time, the last O % ROWS one at a time (the reference loop). */
mt_status mt_linear_f32(const mt_range_f32 *act,
                        const mt_dims *in_dims, const float *in,
                        const mt_dims *weight_dims, const float *weight,
                        const float *bias,
                        const mt_dims *out_dims, float *out)
{
    mt_status st = linear_check(act, in_dims, in, weight_dims, weight, out_dims, out);
    MT_CHECK(st == MT_OK, st);

    const int32_t N = in_dims->n, K = weight_dims->c, O = weight_dims->n;
    for (int32_t n = 0; n < N; n++) {
        const float *x = in + n * K;
        float *y = out + n * O;
        int32_t o = 0;
        for (; o + ROWS <= O; o += ROWS) {
            const float *w[ROWS];
            float acc[ROWS];
            for (int32_t r = 0; r < ROWS; r++)
                w[r] = weight + (o + r) * K;
            linear_rows8(x, w, K, acc);
            for (int32_t r = 0; r < ROWS; r++)
                y[o + r] = finish(acc[r], bias, o + r, act);
        }
        for (; o < O; o++)   /* the last O % ROWS rows one at a time */
            y[o] = finish(mt_dot_f32(x, weight + o * K, K, 0.0f), bias, o, act);
    }
    return MT_OK;
}

/* The same result one row at a time (tests compare the two paths). */
mt_status mt_linear_f32_reference(const mt_range_f32 *act,
                                  const mt_dims *in_dims, const float *in,
                                  const mt_dims *weight_dims, const float *weight,
                                  const float *bias,
                                  const mt_dims *out_dims, float *out)
{
    mt_status st = linear_check(act, in_dims, in, weight_dims, weight, out_dims, out);
    MT_CHECK(st == MT_OK, st);

    const int32_t N = in_dims->n, K = weight_dims->c, O = weight_dims->n;
    for (int32_t n = 0; n < N; n++) {
        const float *x = in + n * K;
        float *y = out + n * O;
        for (int32_t o = 0; o < O; o++)
            y[o] = finish(mt_dot_f32(x, weight + o * K, K, 0.0f), bias, o, act);
    }
    return MT_OK;
}
