/* conv2d_f32_backward.c - 2-D convolution, float32, backward: dX, dW, db.
 *
 * Layout and geometry as conv2d_f32.c: NHWC activations, OHWI filters
 * (O, KH, KW, CG), CG = C / groups, OG = O / groups;
 *   iy = oy*sh - pt + ky*dh,  ix = ox*sw - pl + kx*dw   (outside the input = zero padding)
 */
#include <stdint.h>
#include <string.h>
#include "mt/mt.h"
#include "../support/axpy_f32.h"
#include "../support/backward_ref_f32.h"
#include "../support/check.h"
#include "../support/geometry.h"

/* ---- reference loops ---------------------------------------------------------
 * Every geometry; the fast paths below cover groups == 1 without dilation and are
 * checked against these (tests/c/test_backward_fast.c). */

/* d_in (N,H,W,C), overwritten: every output that read x[n,iy,ix,c] sends back
 * its gradient times the weight it used (a transposed convolution):
 *   dx[n,iy,ix,g*CG+i] = sum_{ky,kx} sum_{o in group g} dy[n,oy,ox,o] * w[o,ky,kx,i]
 * over the (ky, kx) with oy = (iy + pt - ky*dh) / sh and ox = (ix + pl - kx*dw) / sw
 * whole numbers inside the output.                                           */
static void conv_backward_input(const mt_conv_shape *s, const float *filter,
                                const float *d_out, float *d_in)
{
    const int32_t w_stride = s->KH * s->KW * s->CG;   /* from w[o,..] to w[o+1,..] */
    for (int32_t n = 0; n < s->N; n++) {
        for (int32_t iy = 0; iy < s->H; iy++) {
            for (int32_t ix = 0; ix < s->W; ix++) {
                float *dx = d_in + ((n * s->H + iy) * s->W + ix) * s->C;
                for (int32_t c = 0; c < s->C; c++) {
                    const int32_t g = c / s->CG, i = c % s->CG;
                    float sum = 0.0f;
                    for (int32_t ky = 0; ky < s->KH; ky++) {
                        const int32_t ty = iy + s->pt - ky * s->dh;
                        if (ty < 0 || ty % s->sh != 0 || ty / s->sh >= s->OH)
                            continue;
                        const int32_t oy = ty / s->sh;
                        for (int32_t kx = 0; kx < s->KW; kx++) {
                            const int32_t tx = ix + s->pl - kx * s->dw;
                            if (tx < 0 || tx % s->sw != 0 || tx / s->sw >= s->OW)
                                continue;
                            const int32_t ox = tx / s->sw;
                            const float *dy = d_out + ((n * s->OH + oy) * s->OW + ox) * s->O
                                              + g * s->OG;
                            const float *w = filter + (((g * s->OG) * s->KH + ky) * s->KW + kx)
                                                      * s->CG + i;
                            for (int32_t og = 0; og < s->OG; og++)
                                sum += dy[og] * w[og * w_stride];
                        }
                    }
                    dx[c] = sum;
                }
            }
        }
    }
}

/* d_filter rows of output channels [o_begin, o_end), (o_end-o_begin,KH,KW,CG), accumulated:
 *   dw[o,ky,kx,i] += sum_{n,oy,ox} dy[n,oy,ox,o] * x[n,iy,ix,g*CG+i]         */
static void conv_backward_filter(const mt_conv_shape *s, const float *in, const float *d_out,
                                 int32_t o_begin, int32_t o_end, float *d_filter)
{
    for (int32_t o = o_begin; o < o_end; o++) {
        const int32_t c0 = (o / s->OG) * s->CG;
        for (int32_t ky = 0; ky < s->KH; ky++) {
            for (int32_t kx = 0; kx < s->KW; kx++) {
                for (int32_t i = 0; i < s->CG; i++) {
                    float sum = 0.0f;
                    for (int32_t n = 0; n < s->N; n++) {
                        for (int32_t oy = 0; oy < s->OH; oy++) {
                            const int32_t iy = oy * s->sh - s->pt + ky * s->dh;
                            if (iy < 0 || iy >= s->H)
                                continue;
                            const float *x_row = in + (n * s->H + iy) * s->W * s->C + c0 + i;
                            const float *dy_row = d_out + (n * s->OH + oy) * s->OW * s->O + o;
                            for (int32_t ox = 0; ox < s->OW; ox++) {
                                const int32_t ix = ox * s->sw - s->pl + kx * s->dw;
                                if (ix < 0 || ix >= s->W)
                                    continue;
                                sum += dy_row[ox * s->O] * x_row[ix * s->C];
                            }
                        }
                    }
                    d_filter[(((o - o_begin) * s->KH + ky) * s->KW + kx) * s->CG + i] += sum;
                }
            }
        }
    }
}

/* d_bias entries of output channels [o_begin, o_end), accumulated:
 *   db[o] += sum_{n,oy,ox} dy[n,oy,ox,o]                                        */
static void conv_backward_bias(const mt_conv_shape *s, const float *d_out,
                               int32_t o_begin, int32_t o_end, float *d_bias)
{
    const int32_t pixels = s->N * s->OH * s->OW;
    for (int32_t o = o_begin; o < o_end; o++) {
        float sum = 0.0f;
        for (int32_t p = 0; p < pixels; p++)
            sum += d_out[p * s->O + o];
        d_bias[o - o_begin] += sum;
    }
}

/* ---- fast paths: groups == 1, no dilation ------------------------------------
 * Then the taps of one filter row (o, ky) read KW*C consecutive input floats,
 * x[n, iy, ix0 .. ix0+KW-1, 0 .. C-1], and the gradient of that row is a sum of
 * such input segments scaled by dy: a chain of row additions (axpy_f32.h). Zero dy
 * (most of them after ReLU and max-pool backward) are skipped; up to four non-zero
 * ones that touch the same rows are added in one pass.
 * Summation order: dW and db add their terms to d_filter / d_bias one by one in
 * (n, oy, ox) order (the reference sums them from 0, then adds the sum: the same
 * value when d_filter starts at zero, as in training); dX adds them in
 * (n, oy, ox, o) order (the reference: ky, kx, o).                              */

static int conv_fast_path(const mt_conv_shape *s)
{
    return s->CG == s->C && s->dh == 1 && s->dw == 1;
}

/* The taps of output (oy, ox) inside the input: filter rows [ky0, ky1) and columns
 * [kx0, kx1) (the rest read padding). 0 if none. */
typedef struct {
    int32_t ky0, ky1, kx0, kx1;
} tap_window;

static inline int taps_inside(const mt_conv_shape *s, int32_t oy, int32_t ox, tap_window *t)
{
    const int32_t y0 = oy * s->sh - s->pt, x0 = ox * s->sw - s->pl;   /* tap (0, 0) */
    t->ky0 = y0 < 0 ? -y0 : 0;
    t->ky1 = s->H - y0 < s->KH ? s->H - y0 : s->KH;
    t->kx0 = x0 < 0 ? -x0 : 0;
    t->kx1 = s->W - x0 < s->KW ? s->W - x0 : s->KW;
    return t->ky0 < t->ky1 && t->kx0 < t->kx1;
}

static inline int same_window(const tap_window *a, const tap_window *b)
{
    return a->ky0 == b->ky0 && a->ky1 == b->ky1 && a->kx0 == b->kx0 && a->kx1 == b->kx1;
}

/* d_filter rows of channels [o_begin, o_end), accumulated (d_bias too, if not NULL):
 *   dw[o,ky,kx0..kx1-1,:] += dy[n,oy,ox,o] * x[n, oy*sh-pt+ky, ox*sw-pl+kx0 .. , :]
 *   db[o]                 += dy[n,oy,ox,o]
 * term by term over the non-zero dy in (n, oy, ox) order.                      */
static void conv_backward_filter_fast(const mt_conv_shape *s, const float *in,
                                      const float *d_out, int32_t o_begin, int32_t o_end,
                                      float *d_filter, float *d_bias)
{
    const int32_t row = s->KW * s->C, x_row = s->W * s->C;
    /* No window reaches the padding: every one takes all KH x KW taps, and the
     * window bookkeeping is skipped. */
    const int full = s->pt == 0 && s->pl == 0 && (s->OH - 1) * s->sh + s->KH <= s->H &&
                     (s->OW - 1) * s->sw + s->KW <= s->W;
    for (int32_t o = o_begin; o < o_end; o++) {
        float *dw = d_filter + (o - o_begin) * s->KH * row;
        int32_t at = o;                      /* dy[n,oy,ox,o] = d_out[at] */
        float bias_sum = 0.0f;
        mt_axpy_group g;
        tap_window t = {0, s->KH, 0, s->KW}, tn;
        g.count = 0;
        for (int32_t n = 0; n < s->N; n++) {
            for (int32_t oy = 0; oy < s->OH; oy++) {
                for (int32_t ox = 0; ox < s->OW; ox++, at += s->O) {
                    const float d = d_out[at];
                    if (d == 0.0f)
                        continue;
                    bias_sum += d;
                    if (full) {
                        g.x[g.count] = in + ((n * s->H + oy * s->sh) * s->W + ox * s->sw) * s->C;
                        g.a[g.count++] = d;
                        if (g.count == MT_AXPY_GROUP) {
                            mt_axpy_group_rows_f32(&g, dw, row, x_row, s->KH, row);
                            g.count = 0;
                        }
                        continue;
                    }
                    if (!taps_inside(s, oy, ox, &tn))
                        continue;
                    if (g.count == MT_AXPY_GROUP || (g.count > 0 && !same_window(&t, &tn))) {
                        mt_axpy_group_rows_f32(&g, dw + t.ky0 * row + t.kx0 * s->C, row, x_row,
                                               t.ky1 - t.ky0, (t.kx1 - t.kx0) * s->C);
                        g.count = 0;
                    }
                    t = tn;
                    g.x[g.count] = in + ((n * s->H + oy * s->sh - s->pt + t.ky0) * s->W
                                         + ox * s->sw - s->pl + t.kx0) * s->C;
                    g.a[g.count++] = d;
                }
            }
        }
        if (g.count > 0)
            mt_axpy_group_rows_f32(&g, dw + t.ky0 * row + t.kx0 * s->C, row, x_row,
                                   t.ky1 - t.ky0, (t.kx1 - t.kx0) * s->C);
        if (d_bias)
            d_bias[o - o_begin] += bias_sum;
    }
}

/* d_in (N,H,W,C), overwritten: zeroed, then every non-zero dy[n,oy,ox,o] scatters
 *   dx[n, oy*sh-pt+ky, ox*sw-pl+kx0 .., :] += dy[n,oy,ox,o] * w[o,ky,kx0 .., :]
 * (a transposed convolution) in (n, oy, ox, o) order.                         */
static void conv_backward_input_fast(const mt_conv_shape *s, const float *filter,
                                     const float *d_out, float *d_in)
{
    const int32_t row = s->KW * s->C, x_row = s->W * s->C, w_o = s->KH * row;
    memset(d_in, 0, (size_t)s->N * (size_t)s->H * (size_t)x_row * sizeof(float));
    const float *dy = d_out;
    for (int32_t n = 0; n < s->N; n++) {
        for (int32_t oy = 0; oy < s->OH; oy++) {
            for (int32_t ox = 0; ox < s->OW; ox++, dy += s->O) {
                tap_window t;
                if (!taps_inside(s, oy, ox, &t))
                    continue;
                float *dx = d_in + ((n * s->H + oy * s->sh - s->pt + t.ky0) * s->W
                                    + ox * s->sw - s->pl + t.kx0) * s->C;
                const float *w = filter + t.ky0 * row + t.kx0 * s->C;
                const int32_t rows = t.ky1 - t.ky0, len = (t.kx1 - t.kx0) * s->C;
                mt_axpy_group g;
                g.count = 0;
                for (int32_t o = 0; o < s->O; o++) {
                    const float d = dy[o];
                    if (d == 0.0f)
                        continue;
                    g.x[g.count] = w + o * w_o;
                    g.a[g.count++] = d;
                    if (g.count == MT_AXPY_GROUP) {
                        mt_axpy_group_rows_f32(&g, dx, x_row, row, rows, len);
                        g.count = 0;
                    }
                }
                if (g.count > 0)
                    mt_axpy_group_rows_f32(&g, dx, x_row, row, rows, len);
            }
        }
    }
}

/* ---- entry points ------------------------------------------------------------ */

/* Shared by the public entries (fast = 1) and their reference twins (fast = 0). */
static mt_status conv_backward(const mt_conv_params *params,
                               const mt_dims *in_dims, const float *in,
                               const mt_dims *filter_dims, const float *filter,
                               const mt_dims *out_dims, const float *d_out,
                               float *d_in, float *d_filter, float *d_bias, int fast)
{
    MT_CHECK(params && in_dims && filter_dims && out_dims && d_out, MT_ERR_NULL);
    MT_CHECK(in || !d_filter, MT_ERR_NULL);
    MT_CHECK(filter || !d_in, MT_ERR_NULL);
    mt_conv_shape s;
    mt_status status = mt_conv_geometry(params, in_dims, filter_dims, out_dims, &s);
    if (status != MT_OK)
        return status;

    fast = fast && conv_fast_path(&s);
    if (d_in) {
        if (fast)
            conv_backward_input_fast(&s, filter, d_out, d_in);
        else
            conv_backward_input(&s, filter, d_out, d_in);
    }
    if (d_filter && fast) {
        conv_backward_filter_fast(&s, in, d_out, 0, s.O, d_filter, d_bias);
        return MT_OK;
    }
    if (d_filter)
        conv_backward_filter(&s, in, d_out, 0, s.O, d_filter);
    if (d_bias)
        conv_backward_bias(&s, d_out, 0, s.O, d_bias);
    return MT_OK;
}

static mt_status conv_backward_params(const mt_conv_params *params,
                                      const mt_dims *in_dims, const float *in,
                                      const mt_dims *filter_dims,
                                      const mt_dims *out_dims, const float *d_out,
                                      int32_t o_begin, int32_t o_end,
                                      float *d_filter, float *d_bias, int fast)
{
    MT_CHECK(params && in_dims && filter_dims && out_dims && d_out, MT_ERR_NULL);
    MT_CHECK(in || !d_filter, MT_ERR_NULL);
    mt_conv_shape s;
    mt_status status = mt_conv_geometry(params, in_dims, filter_dims, out_dims, &s);
    if (status != MT_OK)
        return status;
    MT_CHECK(0 <= o_begin && o_begin <= o_end && o_end <= filter_dims->n, MT_ERR_RANGE);
    if (d_filter && fast && conv_fast_path(&s)) {
        conv_backward_filter_fast(&s, in, d_out, o_begin, o_end, d_filter, d_bias);
        return MT_OK;
    }
    if (d_filter)
        conv_backward_filter(&s, in, d_out, o_begin, o_end, d_filter);
    if (d_bias)
        conv_backward_bias(&s, d_out, o_begin, o_end, d_bias);
    return MT_OK;
}

/* d_out (N,OH,OW,O) is dL/dy before the fused activation. Computes whichever of
 * d_in (overwritten), d_filter and d_bias (accumulated) are not NULL; `in` is
 * needed only for d_filter, `filter` only for d_in.                          */
mt_status mt_conv2d_f32_backward(const mt_conv_params *params,
                                 const mt_dims *in_dims, const float *in,
                                 const mt_dims *filter_dims, const float *filter,
                                 const mt_dims *out_dims, const float *d_out,
                                 float *d_in, float *d_filter, float *d_bias)
{
    return conv_backward(params, in_dims, in, filter_dims, filter, out_dims, d_out,
                         d_in, d_filter, d_bias, 1);
}

mt_status mt_conv2d_f32_backward_ref(const mt_conv_params *params,
                                     const mt_dims *in_dims, const float *in,
                                     const mt_dims *filter_dims, const float *filter,
                                     const mt_dims *out_dims, const float *d_out,
                                     float *d_in, float *d_filter, float *d_bias)
{
    return conv_backward(params, in_dims, in, filter_dims, filter, out_dims, d_out,
                         d_in, d_filter, d_bias, 0);
}

/* The parameter gradients of output channels [o_begin, o_end) only, accumulated into
 * compact blocks: d_filter (o_end-o_begin, KH, KW, CG), d_bias (o_end-o_begin,).
 * Training uses it to update a layer block by block, so its whole weight
 * gradient never has to exist at once. Either output may be NULL.            */
mt_status mt_conv2d_f32_backward_params(const mt_conv_params *params,
                                        const mt_dims *in_dims, const float *in,
                                        const mt_dims *filter_dims,
                                        const mt_dims *out_dims, const float *d_out,
                                        int32_t o_begin, int32_t o_end,
                                        float *d_filter, float *d_bias)
{
    return conv_backward_params(params, in_dims, in, filter_dims, out_dims, d_out,
                                o_begin, o_end, d_filter, d_bias, 1);
}

mt_status mt_conv2d_f32_backward_params_ref(const mt_conv_params *params,
                                            const mt_dims *in_dims, const float *in,
                                            const mt_dims *filter_dims,
                                            const mt_dims *out_dims, const float *d_out,
                                            int32_t o_begin, int32_t o_end,
                                            float *d_filter, float *d_bias)
{
    return conv_backward_params(params, in_dims, in, filter_dims, out_dims, d_out,
                                o_begin, o_end, d_filter, d_bias, 0);
}
