/* pool_relu_q.c - max pooling and ReLU on q-tensors (the exponent passes through:
 * both only select or zero values, so the caller keeps the input's exponent for
 * the output, and dy's exponent for dx). */
#include "q_internal.h"
#include <string.h>
#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

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

/* The window of output (oy, ox): rows [ky0, ky1), columns [kx0, kx1) of the kernel
 * inside the input, starting at input row iy0 + ky0 and column ix0 + kx0. */
typedef struct {
    int32_t off;        /* element offset of the first tap inside the image          */
    int32_t rows, cols; /* taps inside (>= 1 each: check_pool)                        */
} pool_window;

static pool_window window_at(const mt_pool_params *p, const mt_dims *xd, int32_t oy, int32_t ox)
{
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int32_t ky0 = iy0 < 0 ? -iy0 : 0, kx0 = ix0 < 0 ? -ix0 : 0;
    const int32_t ky1 = xd->h - iy0 < p->kernel_h ? xd->h - iy0 : p->kernel_h;
    const int32_t kx1 = xd->w - ix0 < p->kernel_w ? xd->w - ix0 : p->kernel_w;
    pool_window win = {((iy0 + ky0) * xd->w + ix0 + kx0) * xd->c, ky1 - ky0, kx1 - kx0};
    return win;
}

/* Reference twin (tests/c/test_qtrain_fast.c): one window scan per output element. */
mt_status mt_qi_maxpool2d_ref(const mt_pool_params *p, const mt_dims *xd, const int8_t *x,
                              const mt_dims *yd, int8_t *y)
{
    int64_t j = 0;
    for (int32_t n = 0; n < yd->n; n++)
        for (int32_t oy = 0; oy < yd->h; oy++)
            for (int32_t ox = 0; ox < yd->w; ox++)
                for (int32_t c = 0; c < yd->c; c++, j++)
                    y[j] = x[argmax_window(p, xd, x, n, oy, ox, c)];
    return MT_OK;
}

/* Reference twin of the backward (disjoint windows, checked by the caller). */
mt_status mt_qi_maxpool2d_backward_ref(const mt_pool_params *p, const mt_dims *xd,
                                       const int8_t *x, const mt_dims *yd,
                                       const int8_t *dy, int8_t *dx)
{
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

mt_status mt_maxpool2d_q(const mt_pool_params *p,
                         const mt_dims *xd, const int8_t *x,
                         const mt_dims *yd, int8_t *y)
{
    MT_CHECK(p && xd && x && yd && y, MT_ERR_NULL);
    mt_status st = check_pool(p, xd, yd);
    MT_CHECK(st == MT_OK, st);
    /* The window's maximum, channels innermost: y[c] = max over taps of x[tap, c]
     * (the value of the first maximum is the maximum). */
    const int32_t C = xd->c, img = xd->h * xd->w * C;
    for (int32_t n = 0; n < yd->n; n++) {
        const int8_t *xn = x + (int64_t)n * img;
        for (int32_t oy = 0; oy < yd->h; oy++)
            for (int32_t ox = 0; ox < yd->w; ox++, y += C) {
                const pool_window win = window_at(p, xd, oy, ox);
                const int8_t *xr = xn + win.off;
                for (int32_t c = 0; c < C; c++)
                    y[c] = xr[c];
                for (int32_t ky = 0; ky < win.rows; ky++, xr += xd->w * C) {
                    const int8_t *xt = xr;
                    for (int32_t kx = 0; kx < win.cols; kx++, xt += C)
                        for (int32_t c = 0; c < C; c++)
                            if (xt[c] > y[c])
                                y[c] = xt[c];
                }
            }
    }
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
    const int32_t count = mt_dims_count(xd), C = xd->c, img = xd->h * xd->w * C;
    for (int32_t i = 0; i < count; i++)
        dx[i] = 0;
    /* dy goes to the first maximum of its window in row-major order (strict >). */
    for (int32_t n = 0; n < yd->n; n++) {
        const int32_t xn = n * img;
        for (int32_t oy = 0; oy < yd->h; oy++)
            for (int32_t ox = 0; ox < yd->w; ox++, dy += C) {
                const pool_window win = window_at(p, xd, oy, ox);
                if (win.rows == 2 && win.cols == 2) {   /* the common 2x2 window */
                    const int32_t i0 = xn + win.off, i2 = i0 + xd->w * C;
                    for (int32_t c = 0; c < C; c++) {
                        const int32_t g = dy[c];
                        if (g == 0)
                            continue;
                        int32_t best = i0 + c;
                        if (x[i0 + C + c] > x[best])
                            best = i0 + C + c;
                        if (x[i2 + c] > x[best])
                            best = i2 + c;
                        if (x[i2 + C + c] > x[best])
                            best = i2 + C + c;
                        dx[best] = (int8_t)g;
                    }
                    continue;
                }
                for (int32_t c = 0; c < C; c++) {
                    const int32_t g = dy[c];
                    if (g == 0)      /* dx is already 0 there */
                        continue;
                    int32_t best = xn + win.off + c;
                    int32_t row = best;
                    for (int32_t ky = 0; ky < win.rows; ky++, row += xd->w * C)
                        for (int32_t kx = 0, i = row; kx < win.cols; kx++, i += C)
                            if (x[i] > x[best])
                                best = i;
                    dx[best] = (int8_t)g;
                }
            }
    }
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
    int32_t i = 0;
#if defined(__ARM_FEATURE_DSP)
    /* Four bytes at a time: SSUB8 y - 1 sets the GE flag of the lanes with y >= 1,
     * SEL then takes dy there and 0 elsewhere (in place is fine: word by word). */
    for (; i + 4 <= size; i += 4) {
        uint32_t yv, gv;
        memcpy(&yv, y + i, 4);
        memcpy(&gv, dy + i, 4);
        uint32_t r;
#if defined(__GNUC__)
        /* one asm statement: nothing may come between the GE flags and SEL */
        __asm__("ssub8  %0, %1, %2\n\t"
                "sel    %0, %3, %4"
                : "=&r"(r) : "r"(yv), "r"(0x01010101u), "r"(gv), "r"(0u) : "cc");
#else
        (void)__ssub8(yv, 0x01010101u);
        r = __sel(gv, 0u);
#endif
        memcpy(dx + i, &r, 4);
    }
#endif
    for (; i < size; i++)
        dx[i] = y[i] > 0 ? dy[i] : 0;
    return MT_OK;
}
