/* linear_q.c - linear layer on q-tensors: forward, dx, and the dW / db blocks.
 *
 * x (N, K) int8 at 2^ex, W (O, K) int8 at 2^ew:
 *   forward   acc = x @ W^T (+ b)     at 2^(ex + ew), then requantize
 *   backward  dx  = dy @ W            at 2^(edy + ew), then requantize
 *             dW += dy^T @ x          at 2^(edy + ex), int32 (for the optimizer)
 *             db += sum_n dy          at 2^edy
 * Integer arithmetic after Jacob et al. 2018; dynamic exponents after NITI
 * (Wang et al. 2022). */
#include "q_internal.h"
#include "q_dot.h"

int32_t mt_linear_q_get_buffer_size(const mt_dims *out_dims)
{
    return mt_q_int32_bytes(out_dims);
}

int32_t mt_linear_q_backward_get_buffer_size(const mt_dims *in_dims)
{
    return mt_q_int32_bytes(in_dims);
}

/* x (N, K) with K = h*w*c, W (O, K), y (N, 1, 1, O). */
static mt_status check_geometry(const mt_dims *xd, const mt_dims *wd, const mt_dims *yd)
{
    MT_CHECK(mt_dims_ok(xd) && mt_dims_ok(wd) && mt_dims_ok(yd), MT_ERR_SHAPE);
    MT_CHECK(wd->h == 1 && wd->w == 1 && xd->h * xd->w * xd->c == wd->c, MT_ERR_SHAPE);
    MT_CHECK(yd->n == xd->n && yd->h == 1 && yd->w == 1 && yd->c == wd->n, MT_ERR_SHAPE);
    return MT_OK;
}

mt_status mt_linear_q(const mt_q_ctx *ctx, int32_t relu,
                      const mt_dims *xd, const int8_t *x, int32_t ex,
                      const mt_dims *wd, const int8_t *w, int32_t ew,
                      const int32_t *bias, int32_t eb,
                      const mt_dims *yd, int8_t *y, int32_t *ey)
{
    MT_CHECK(ctx && xd && x && wd && w && yd && y && ey, MT_ERR_NULL);
    mt_status st = check_geometry(xd, wd, yd);
    MT_CHECK(st == MT_OK, st);
    MT_CHECK(q_exp_ok(ex) && q_exp_ok(ew) && q_exp_ok(eb), MT_ERR_RANGE);
    const int32_t N = xd->n, K = wd->c, O = wd->n;
    MT_CHECK(K <= Q_MAX_TERMS, MT_ERR_UNSUPPORTED);
    MT_CHECK(q_ctx_ok(ctx, (int64_t)N * O * 4), MT_ERR_ARENA);
    int32_t *acc = (int32_t *)ctx->buf;
    const int32_t e_acc = ex + ew;

    const int32_t bshift = e_acc - eb;
    uint32_t bits = 0;
    for (int32_t n = 0; n < N; n++) {
        const int8_t *xr = x + (int64_t)n * K;
        int32_t *ar = acc + (int64_t)n * O;
        /* two output rows per read of x (q_dot.h); exact sums, any order.
         * Overflow: K <= 2^17 - 1 products of |x*w| <= 2^14 -> |sum| < 2^31. */
        for (int32_t o = 0; o < O; o += 2) {
            const int two = o + 1 < O;
            const int8_t *w0 = w + (int64_t)o * K, *w1 = two ? w0 + K : w0;
            int32_t sum[2] = {0, 0};
            q_dot2_s8(xr, w0, w1, K, &sum[0], &sum[1]);
            for (int32_t j = 0; j <= two; j++) {
                int64_t a = sum[j];
                if (bias)    /* |bias aligned| <= 2^62, so the int64 sum cannot overflow */
                    a += q_sat32(q_rescale(bias[o + j], bshift));
                if (relu && a < 0)
                    a = 0;
                const int32_t v = q_sat32(a);
                ar[o + j] = v;
                bits |= q_abs_u32(v);
            }
        }
    }
    const int32_t s = q_dyn_shift(bits);
    mt_qi_requantize_s8((int64_t)N * O, acc, s, y);
    *ey = e_acc + s;
    return MT_OK;
}

mt_status mt_linear_q_backward(const mt_q_ctx *ctx,
                               const mt_dims *xd,
                               const mt_dims *wd, const int8_t *w, int32_t ew,
                               const mt_dims *yd, const int8_t *dy, int32_t edy,
                               int8_t *dx, int32_t *edx)
{
    MT_CHECK(ctx && xd && wd && w && yd && dy && dx && edx, MT_ERR_NULL);
    mt_status st = check_geometry(xd, wd, yd);
    MT_CHECK(st == MT_OK, st);
    MT_CHECK(q_exp_ok(ew) && q_exp_ok(edy), MT_ERR_RANGE);
    const int32_t N = xd->n, K = wd->c, O = wd->n;
    MT_CHECK(O <= Q_MAX_TERMS, MT_ERR_UNSUPPORTED);
    MT_CHECK(q_ctx_ok(ctx, (int64_t)N * K * 4), MT_ERR_ARENA);
    int32_t *acc = (int32_t *)ctx->buf;

    for (int32_t n = 0; n < N; n++) {
        const int8_t *dyr = dy + (int64_t)n * O;
        int32_t *ar = acc + (int64_t)n * K;
        for (int32_t k = 0; k < K; k++)
            ar[k] = 0;
        /* Overflow: each ar[k] sums O <= 2^17 - 1 products |dy*w| <= 2^14. */
        for (int32_t o = 0; o < O; o++) {
            const int32_t g = dyr[o];
            if (g != 0)
                q_axpy_s8(ar, g, w + (int64_t)o * K, K);
        }
    }
    const int32_t s = q_dyn_shift(mt_qi_abs_or((int64_t)N * K, acc));
    mt_qi_requantize_s8((int64_t)N * K, acc, s, dx);
    *edx = edy + ew + s;
    return MT_OK;
}

mt_status mt_linear_q_backward_params(const mt_dims *xd, const int8_t *x,
                                      const mt_dims *wd,
                                      const mt_dims *yd, const int8_t *dy,
                                      int32_t o_begin, int32_t o_end,
                                      int32_t *dw, int32_t *db)
{
    MT_CHECK(xd && wd && yd && dy, MT_ERR_NULL);
    MT_CHECK(x || !dw, MT_ERR_NULL);
    mt_status st = check_geometry(xd, wd, yd);
    MT_CHECK(st == MT_OK, st);
    const int32_t N = xd->n, K = wd->c, O = wd->n;
    MT_CHECK(0 <= o_begin && o_begin <= o_end && o_end <= O, MT_ERR_RANGE);
    MT_CHECK(N <= Q_MAX_TERMS, MT_ERR_UNSUPPORTED);

    for (int32_t o = o_begin; o < o_end; o++) {
        int32_t *dwr = dw ? dw + (int64_t)(o - o_begin) * K : NULL;
        /* Overflow: N <= 2^17 - 1 terms of |dy| <= 2^7 (db) or |dy*x| <= 2^14 (dW). */
        if (db) {
            int32_t sum = 0;
            for (int32_t n = 0; n < N; n++)
                sum += dy[(int64_t)n * O + o];
            db[o - o_begin] = mt_q_sat_add(db[o - o_begin], sum);
        }
        if (!dwr)
            continue;
        for (int32_t k = 0; k < K; k++) {
            int32_t sum = 0;
            for (int32_t n = 0; n < N; n++)
                sum += (int32_t)dy[(int64_t)n * O + o] * x[(int64_t)n * K + k];
            dwr[k] = mt_q_sat_add(dwr[k], sum);
        }
    }
    return MT_OK;
}

void mt_qi_linear_dw_fast(const mt_dims *xd, const int8_t *x, const mt_dims *wd,
                          const mt_dims *yd, const int8_t *dy,
                          int32_t o_begin, int32_t o_end, int32_t *dw, int32_t *db)
{
    (void)yd;
    const int32_t N = xd->n, K = wd->c, O = wd->n;
    /* dW[o, :] = sum_n dy[n, o] x[n, :]: one row update per non-zero dy.
     * Overflow: N <= 2^17 - 1 terms of |dy| <= 2^7 (db) or |dy*x| <= 2^14 (dW). */
    for (int32_t o = o_begin; o < o_end; o++) {
        int32_t *dwr = dw + (int64_t)(o - o_begin) * K;
        int32_t bsum = 0, written = 0;
        for (int32_t n = 0; n < N; n++) {
            const int32_t g = dy[(int64_t)n * O + o];
            if (g == 0)
                continue;
            bsum += g;
            const int8_t *xr = x + (int64_t)n * K;
            if (!written) {          /* the first term: a plain product, nothing to add to */
                for (int32_t k = 0; k < K; k++)
                    dwr[k] = g * xr[k];
                written = 1;
            } else {
                q_axpy_s8(dwr, g, xr, K);
            }
        }
        if (!written)
            for (int32_t k = 0; k < K; k++)
                dwr[k] = 0;
        if (db)
            db[o - o_begin] = bsum;
    }
}
