/* conv2d_q.c - 2-D convolution on q-tensors: forward, dx, and the dW / db blocks.
 *
 * x (N,H,W,C) int8 at 2^ex, filter (O,KH,KW,Cg) int8 at 2^ew, Cg = C/groups,
 * y (N,OH,OW,O); output channel o belongs to group g = o / (O/groups):
 *   acc[n,oy,ox,o] = sum_{ky,kx,i} x[n, oy*sh-pt+ky*dh, ox*sw-pl+kx*dw, g*Cg+i] w[o,ky,kx,i]
 *   dx = the transpose of that map applied to dy;   dW += dy^T x per tap;  db += sum dy.
 * Exponents and rounding as linear_q.c (NITI, Wang et al. 2022; Jacob et al. 2018). */
#include "q_internal.h"

int32_t mt_conv2d_q_get_buffer_size(const mt_dims *out_dims)
{
    return mt_q_int32_bytes(out_dims);
}

int32_t mt_conv2d_q_backward_get_buffer_size(const mt_dims *in_dims)
{
    return mt_q_int32_bytes(in_dims);
}

static mt_status check_geometry(const mt_conv_params *p, const mt_dims *xd,
                                const mt_dims *fd, const mt_dims *yd)
{
    MT_CHECK(mt_dims_ok(xd) && mt_dims_ok(fd) && mt_dims_ok(yd), MT_ERR_SHAPE);
    MT_CHECK(p->groups >= 1 && p->stride_h >= 1 && p->stride_w >= 1 &&
             p->dilation_h >= 1 && p->dilation_w >= 1 && p->pad_top >= 0 &&
             p->pad_left >= 0 && p->pad_bottom >= 0 && p->pad_right >= 0, MT_ERR_ARG);
    MT_CHECK(xd->c % p->groups == 0 && fd->n % p->groups == 0 &&
             fd->c == xd->c / p->groups, MT_ERR_SHAPE);
    const int32_t oh = mt_conv_out_size(xd->h, fd->h, p->stride_h, p->pad_top + p->pad_bottom,
                                        p->dilation_h);
    const int32_t ow = mt_conv_out_size(xd->w, fd->w, p->stride_w, p->pad_left + p->pad_right,
                                        p->dilation_w);
    MT_CHECK(oh >= 1 && ow >= 1, MT_ERR_SHAPE);
    MT_CHECK(yd->n == xd->n && yd->h == oh && yd->w == ow && yd->c == fd->n, MT_ERR_SHAPE);
    return MT_OK;
}

/* Reference twin of the forward accumulation (any groups, dilation). */
int32_t mt_qi_conv2d_acc_ref(const mt_conv_params *p, int32_t relu,
                             const mt_dims *xd, const int8_t *x,
                             const mt_dims *fd, const int8_t *w,
                             const int32_t *bias, int32_t bias_shift,
                             const mt_dims *yd, int32_t *acc)
{
    const int32_t H = xd->h, W = xd->w, C = xd->c, O = fd->n, KH = fd->h, KW = fd->w,
                  Cg = fd->c, Og = O / p->groups, OH = yd->h, OW = yd->w;
    uint64_t max_abs = 0;
    int64_t idx = 0;
    for (int32_t n = 0; n < xd->n; n++)
        for (int32_t oy = 0; oy < OH; oy++)
            for (int32_t ox = 0; ox < OW; ox++)
                for (int32_t o = 0; o < O; o++, idx++) {
                    const int32_t c0 = (o / Og) * Cg;
                    /* Overflow: at most KH*KW*Cg <= 2^17 - 1 products |x*w| <= 2^14. */
                    int32_t sum = 0;
                    for (int32_t ky = 0; ky < KH; ky++) {
                        const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dilation_h;
                        if (iy < 0 || iy >= H)
                            continue;
                        for (int32_t kx = 0; kx < KW; kx++) {
                            const int32_t ix = ox * p->stride_w - p->pad_left + kx * p->dilation_w;
                            if (ix < 0 || ix >= W)
                                continue;
                            const int8_t *xp = x + (((int64_t)n * H + iy) * W + ix) * C + c0;
                            const int8_t *wp = w + (((int64_t)o * KH + ky) * KW + kx) * Cg;
                            for (int32_t i = 0; i < Cg; i++)
                                sum += (int32_t)xp[i] * wp[i];
                        }
                    }
                    int64_t a = sum;
                    if (bias)   /* |aligned bias| <= 2^31: the int64 sum is exact */
                        a += q_sat32(q_rescale(bias[o], bias_shift));
                    if (relu && a < 0)
                        a = 0;
                    const int32_t v = q_sat32(a);
                    acc[idx] = v;
                    const uint64_t m = (uint64_t)q_abs64(v);
                    if (m > max_abs)
                        max_abs = m;
                }
    return q_dyn_shift(max_abs);
}

mt_status mt_conv2d_q(const mt_q_ctx *ctx, const mt_conv_params *p, int32_t relu,
                      const mt_dims *xd, const int8_t *x, int32_t ex,
                      const mt_dims *fd, const int8_t *w, int32_t ew,
                      const int32_t *bias, int32_t eb,
                      const mt_dims *yd, int8_t *y, int32_t *ey)
{
    MT_CHECK(ctx && p && xd && x && fd && w && yd && y && ey, MT_ERR_NULL);
    mt_status st = check_geometry(p, xd, fd, yd);
    MT_CHECK(st == MT_OK, st);
    MT_CHECK(q_exp_ok(ex) && q_exp_ok(ew) && q_exp_ok(eb), MT_ERR_RANGE);
    MT_CHECK((int64_t)fd->h * fd->w * fd->c <= Q_MAX_TERMS, MT_ERR_UNSUPPORTED);
    const int64_t count = (int64_t)mt_dims_count(yd);
    MT_CHECK(q_ctx_ok(ctx, count * 4), MT_ERR_ARENA);
    int32_t *acc = (int32_t *)ctx->buf;
    const int32_t e_acc = ex + ew;
    int32_t s = -1;
    if (mt_qi_conv2d_fast_ok(p)) {
        /* the scratch beyond the accumulators holds the split filter (DSP cores) */
        s = mt_qi_conv2d_acc_dsp(p, relu, xd, x, fd, w, bias, e_acc - eb, yd, acc,
                                 (uint32_t *)(acc + count), (int32_t)(ctx->size / 4 - count));
        if (s < 0)
            s = mt_qi_conv2d_acc_fast(p, relu, xd, x, fd, w, bias, e_acc - eb, yd, acc);
    } else {
        s = mt_qi_conv2d_acc_ref(p, relu, xd, x, fd, w, bias, e_acc - eb, yd, acc);
    }
    mt_qi_requantize_s8(count, acc, s, y);
    *ey = e_acc + s;
    return MT_OK;
}

/* Reference twin of dx (any groups, dilation). */
int32_t mt_qi_conv2d_dx_ref(const mt_conv_params *p, const mt_dims *xd,
                            const mt_dims *fd, const int8_t *w,
                            const mt_dims *yd, const int8_t *dy, int32_t *acc)
{
    const int32_t H = xd->h, W = xd->w, C = xd->c, O = fd->n, KH = fd->h, KW = fd->w,
                  Cg = fd->c, Og = O / p->groups, OH = yd->h, OW = yd->w;
    const int64_t count = (int64_t)mt_dims_count(xd);
    for (int64_t i = 0; i < count; i++)
        acc[i] = 0;

    /* Scatter: dx[n,iy,ix,g*Cg+i] += dy[n,oy,ox,o] * w[o,ky,kx,i].
     * Overflow: an input element is read by at most Og*KH*KW <= 2^17 - 1 taps
     * (one per output channel of its group and filter tap), each |dy*w| <= 2^14. */
    for (int32_t n = 0; n < xd->n; n++)
        for (int32_t oy = 0; oy < OH; oy++)
            for (int32_t ox = 0; ox < OW; ox++)
                for (int32_t o = 0; o < O; o++) {
                    const int32_t g = dy[(((int64_t)n * OH + oy) * OW + ox) * O + o];
                    if (g == 0)
                        continue;
                    const int32_t c0 = (o / Og) * Cg;
                    for (int32_t ky = 0; ky < KH; ky++) {
                        const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dilation_h;
                        if (iy < 0 || iy >= H)
                            continue;
                        for (int32_t kx = 0; kx < KW; kx++) {
                            const int32_t ix = ox * p->stride_w - p->pad_left + kx * p->dilation_w;
                            if (ix < 0 || ix >= W)
                                continue;
                            int32_t *ap = acc + (((int64_t)n * H + iy) * W + ix) * C + c0;
                            const int8_t *wp = w + (((int64_t)o * KH + ky) * KW + kx) * Cg;
                            for (int32_t i = 0; i < Cg; i++)
                                ap[i] += g * wp[i];
                        }
                    }
                }
    uint64_t max_abs = 0;
    for (int64_t i = 0; i < count; i++) {
        const uint64_t m = (uint64_t)q_abs64(acc[i]);
        if (m > max_abs)
            max_abs = m;
    }
    return q_dyn_shift(max_abs);
}

mt_status mt_conv2d_q_backward(const mt_q_ctx *ctx, const mt_conv_params *p,
                               const mt_dims *xd,
                               const mt_dims *fd, const int8_t *w, int32_t ew,
                               const mt_dims *yd, const int8_t *dy, int32_t edy,
                               int8_t *dx, int32_t *edx)
{
    MT_CHECK(ctx && p && xd && fd && w && yd && dy && dx && edx, MT_ERR_NULL);
    mt_status st = check_geometry(p, xd, fd, yd);
    MT_CHECK(st == MT_OK, st);
    MT_CHECK(q_exp_ok(ew) && q_exp_ok(edy), MT_ERR_RANGE);
    MT_CHECK((int64_t)(fd->n / p->groups) * fd->h * fd->w <= Q_MAX_TERMS, MT_ERR_UNSUPPORTED);
    const int64_t count = (int64_t)mt_dims_count(xd);
    MT_CHECK(q_ctx_ok(ctx, count * 4), MT_ERR_ARENA);
    int32_t *acc = (int32_t *)ctx->buf;
    const int32_t s = mt_qi_conv2d_fast_ok(p)
        ? mt_qi_conv2d_dx_fast(p, xd, fd, w, yd, dy, acc)
        : mt_qi_conv2d_dx_ref(p, xd, fd, w, yd, dy, acc);
    mt_qi_requantize_s8(count, acc, s, dx);
    *edx = edy + ew + s;
    return MT_OK;
}

mt_status mt_conv2d_q_backward_params(const mt_conv_params *p,
                                      const mt_dims *xd, const int8_t *x,
                                      const mt_dims *fd,
                                      const mt_dims *yd, const int8_t *dy,
                                      int32_t o_begin, int32_t o_end,
                                      int32_t *dw, int32_t *db)
{
    MT_CHECK(p && xd && fd && yd && dy, MT_ERR_NULL);
    MT_CHECK(x || !dw, MT_ERR_NULL);
    mt_status st = check_geometry(p, xd, fd, yd);
    MT_CHECK(st == MT_OK, st);
    const int32_t H = xd->h, W = xd->w, C = xd->c, O = fd->n, KH = fd->h, KW = fd->w,
                  Cg = fd->c, Og = O / p->groups, OH = yd->h, OW = yd->w;
    MT_CHECK(0 <= o_begin && o_begin <= o_end && o_end <= O, MT_ERR_RANGE);
    MT_CHECK((int64_t)xd->n * OH * OW <= Q_MAX_TERMS, MT_ERR_UNSUPPORTED);
    const int64_t row = (int64_t)KH * KW * Cg;

    for (int32_t o = o_begin; o < o_end; o++) {
        const int32_t c0 = (o / Og) * Cg;
        /* Overflow: every sum has N*OH*OW <= 2^17 - 1 terms, |dy| <= 2^7, |dy*x| <= 2^14. */
        if (db) {
            int32_t sum = 0;
            for (int64_t j = 0; j < (int64_t)xd->n * OH * OW; j++)
                sum += dy[j * O + o];
            db[o - o_begin] = mt_q_sat_add(db[o - o_begin], sum);
        }
        if (!dw)
            continue;
        int32_t *dwr = dw + (o - o_begin) * row;
        for (int32_t ky = 0; ky < KH; ky++)
            for (int32_t kx = 0; kx < KW; kx++)
                for (int32_t i = 0; i < Cg; i++) {
                    int32_t sum = 0;
                    for (int32_t n = 0; n < xd->n; n++)
                        for (int32_t oy = 0; oy < OH; oy++) {
                            const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dilation_h;
                            if (iy < 0 || iy >= H)
                                continue;
                            for (int32_t ox = 0; ox < OW; ox++) {
                                const int32_t ix = ox * p->stride_w - p->pad_left + kx * p->dilation_w;
                                if (ix < 0 || ix >= W)
                                    continue;
                                sum += (int32_t)dy[(((int64_t)n * OH + oy) * OW + ox) * O + o]
                                       * x[(((int64_t)n * H + iy) * W + ix) * C + c0 + i];
                            }
                        }
                    int32_t *d = dwr + ((int64_t)ky * KW + kx) * Cg + i;
                    *d = mt_q_sat_add(*d, sum);
                }
    }
    return MT_OK;
}
