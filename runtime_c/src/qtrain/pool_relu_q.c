/* pool_relu_q.c - max pooling and ReLU on q-tensors (the exponent passes through:
 * both only select or zero values, so the caller keeps the input's exponent for
 * the output, and dy's exponent for dx). */
#include "q_internal.h"

static mt_status check_pool(const mt_pool_params *p, const mt_dims *xd, const mt_dims *yd)
{
    MT_CHECK(mt_dims_ok(xd) && mt_dims_ok(yd), MT_ERR_SHAPE);
    MT_CHECK(p->kernel_h >= 1 && p->kernel_w >= 1 && p->stride_h >= 1 && p->stride_w >= 1,
             MT_ERR_ARG);
    /* PyTorch's rule: padding at most half the window, so no window is all padding. */
    MT_CHECK(p->pad_top >= 0 && p->pad_left >= 0 && p->pad_bottom >= 0 && p->pad_right >= 0 &&
             2 * p->pad_top <= p->kernel_h && 2 * p->pad_bottom <= p->kernel_h &&
             2 * p->pad_left <= p->kernel_w && 2 * p->pad_right <= p->kernel_w, MT_ERR_ARG);
    const int32_t oh = mt_pool_out_size(xd->h, p->kernel_h, p->stride_h, p->pad_top,
                                        p->pad_bottom, p->ceil_mode);
    const int32_t ow = mt_pool_out_size(xd->w, p->kernel_w, p->stride_w, p->pad_left,
                                        p->pad_right, p->ceil_mode);
    MT_CHECK(oh >= 1 && ow >= 1, MT_ERR_SHAPE);
    MT_CHECK(yd->n == xd->n && yd->h == oh && yd->w == ow && yd->c == xd->c, MT_ERR_SHAPE);
    return MT_OK;
}

/* Index (into x) of the first maximum of window (n, oy, ox, c), row-major scan. */
static int64_t argmax_window(const mt_pool_params *p, const mt_dims *xd, const int8_t *x,
                             int32_t n, int32_t oy, int32_t ox, int32_t c)
{
    int64_t best = -1;
    for (int32_t ky = 0; ky < p->kernel_h; ky++) {
        const int32_t iy = oy * p->stride_h - p->pad_top + ky;
        if (iy < 0 || iy >= xd->h)
            continue;
        for (int32_t kx = 0; kx < p->kernel_w; kx++) {
            const int32_t ix = ox * p->stride_w - p->pad_left + kx;
            if (ix < 0 || ix >= xd->w)
                continue;
            const int64_t i = (((int64_t)n * xd->h + iy) * xd->w + ix) * xd->c + c;
            if (best < 0 || x[i] > x[best])
                best = i;
        }
    }
    return best;   /* >= 0: check_pool guarantees a real tap in every window */
}

mt_status mt_maxpool2d_q(const mt_pool_params *p,
                         const mt_dims *xd, const int8_t *x,
                         const mt_dims *yd, int8_t *y)
{
    MT_CHECK(p && xd && x && yd && y, MT_ERR_NULL);
    mt_status st = check_pool(p, xd, yd);
    MT_CHECK(st == MT_OK, st);
    int64_t j = 0;
    for (int32_t n = 0; n < yd->n; n++)
        for (int32_t oy = 0; oy < yd->h; oy++)
            for (int32_t ox = 0; ox < yd->w; ox++)
                for (int32_t c = 0; c < yd->c; c++, j++)
                    y[j] = x[argmax_window(p, xd, x, n, oy, ox, c)];
    return MT_OK;
}

mt_status mt_maxpool2d_q_backward(const mt_pool_params *p,
                                  const mt_dims *xd, const int8_t *x,
                                  const mt_dims *yd, const int8_t *dy,
                                  int8_t *dx)
{
    MT_CHECK(p && xd && x && yd && dy && dx, MT_ERR_NULL);
    mt_status st = check_pool(p, xd, yd);
    MT_CHECK(st == MT_OK, st);
    /* Disjoint windows: every input receives at most one dy, so no sum can leave int8. */
    MT_CHECK(p->stride_h >= p->kernel_h && p->stride_w >= p->kernel_w, MT_ERR_UNSUPPORTED);
    const int64_t count = mt_dims_count(xd);
    for (int64_t i = 0; i < count; i++)
        dx[i] = 0;
    int64_t j = 0;
    for (int32_t n = 0; n < yd->n; n++)
        for (int32_t oy = 0; oy < yd->h; oy++)
            for (int32_t ox = 0; ox < yd->w; ox++)
                for (int32_t c = 0; c < yd->c; c++, j++)
                    dx[argmax_window(p, xd, x, n, oy, ox, c)] = dy[j];
    return MT_OK;
}

mt_status mt_relu_q(int32_t size, const int8_t *x, int8_t *y)
{
    MT_CHECK(x && y, MT_ERR_NULL);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    for (int32_t i = 0; i < size; i++)
        y[i] = x[i] > 0 ? x[i] : 0;
    return MT_OK;
}

mt_status mt_relu_q_backward(int32_t size, const int8_t *y, const int8_t *dy, int8_t *dx)
{
    MT_CHECK(y && dy && dx, MT_ERR_NULL);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    for (int32_t i = 0; i < size; i++)
        dx[i] = y[i] > 0 ? dy[i] : 0;
    return MT_OK;
}
