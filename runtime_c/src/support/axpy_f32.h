/* axpy_f32.h - scaled row additions for the float backward kernels (internal).
 *
 * Backward passes are sums of scaled rows: dW row += dy * x-row, dx row += dy * w-row.
 * Most dy are zero after ReLU and max-pool backward, so the kernels collect the
 * non-zero scales of up to MT_AXPY_GROUP rows that go into the same destination and
 * add them with one load and one store of the destination per element:
 *
 *   y[j] = ((((y[j] + a[0]*x[0][j]) + a[1]*x[1][j]) + a[2]*x[2][j]) + a[3]*x[3][j])
 *
 * which is exactly the same sum, term for term and in the same order, as adding the
 * rows one after the other. Each step is mt_mla_f32 (mla_f32.h: VMLA on an Arm FPU,
 * rounded exactly as `y + a * x`). A skipped zero scale would only have added +-0 (a finite
 * x times 0), which leaves every non-zero sum unchanged.
 */
#ifndef MT_AXPY_F32_H
#define MT_AXPY_F32_H

#include <stdint.h>
#include "mla_f32.h"

#define MT_AXPY_GROUP 4

/* Up to MT_AXPY_GROUP (scale, source row) pairs waiting to be added to one row. */
typedef struct {
    const float *x[MT_AXPY_GROUP];
    float a[MT_AXPY_GROUP];
    int32_t count;
} mt_axpy_group;

/* y[j] += a0*x0[j], j < n */
static inline void mt_axpy1_f32(float *y, const float *x0, float a0, int32_t n)
{
    for (int32_t k = n >> 2; k > 0; k--, y += 4, x0 += 4) {
        float y0 = y[0], y1 = y[1], y2 = y[2], y3 = y[3];
        y0 = mt_mla_f32(y0, a0, x0[0]);
        y1 = mt_mla_f32(y1, a0, x0[1]);
        y2 = mt_mla_f32(y2, a0, x0[2]);
        y3 = mt_mla_f32(y3, a0, x0[3]);
        y[0] = y0;
        y[1] = y1;
        y[2] = y2;
        y[3] = y3;
    }
    for (int32_t k = n & 3; k > 0; k--, y++, x0++)
        y[0] = mt_mla_f32(y[0], a0, x0[0]);
}

/* y[j] = (y[j] + a0*x0[j]) + a1*x1[j], j < n */
static inline void mt_axpy2_f32(float *y, const float *x0, const float *x1,
                                float a0, float a1, int32_t n)
{
    for (int32_t k = n >> 1; k > 0; k--, y += 2, x0 += 2, x1 += 2) {
        float y0 = y[0], y1 = y[1];
        y0 = mt_mla_f32(y0, a0, x0[0]);
        y1 = mt_mla_f32(y1, a0, x0[1]);
        y0 = mt_mla_f32(y0, a1, x1[0]);
        y1 = mt_mla_f32(y1, a1, x1[1]);
        y[0] = y0;
        y[1] = y1;
    }
    if (n & 1) {
        float y0 = y[0];
        y0 = mt_mla_f32(y0, a0, x0[0]);
        y0 = mt_mla_f32(y0, a1, x1[0]);
        y[0] = y0;
    }
}

/* y[j] = (((y[j] + a0*x0[j]) + a1*x1[j]) + a2*x2[j]) + a3*x3[j], j < n */
static inline void mt_axpy4_f32(float *y, const float *x0, const float *x1, const float *x2,
                                const float *x3, float a0, float a1, float a2, float a3,
                                int32_t n)
{
    for (int32_t k = n >> 1; k > 0; k--, y += 2, x0 += 2, x1 += 2, x2 += 2, x3 += 2) {
        float y0 = y[0], y1 = y[1];
        y0 = mt_mla_f32(y0, a0, x0[0]);
        y1 = mt_mla_f32(y1, a0, x0[1]);
        y0 = mt_mla_f32(y0, a1, x1[0]);
        y1 = mt_mla_f32(y1, a1, x1[1]);
        y0 = mt_mla_f32(y0, a2, x2[0]);
        y1 = mt_mla_f32(y1, a2, x2[1]);
        y0 = mt_mla_f32(y0, a3, x3[0]);
        y1 = mt_mla_f32(y1, a3, x3[1]);
        y[0] = y0;
        y[1] = y1;
    }
    if (n & 1) {
        float y0 = y[0];
        y0 = mt_mla_f32(y0, a0, x0[0]);
        y0 = mt_mla_f32(y0, a1, x1[0]);
        y0 = mt_mla_f32(y0, a2, x2[0]);
        y0 = mt_mla_f32(y0, a3, x3[0]);
        y[0] = y0;
    }
}

/* rows times: y += the group's terms in order (see the top of this file), then
 * y advances by y_step and every source row by x_step. n elements per row. */
static inline void mt_axpy_group_rows_f32(const mt_axpy_group *g, float *y, int32_t y_step,
                                          int32_t x_step, int32_t rows, int32_t n)
{
    for (int32_t r = 0; r < rows; r++, y += y_step) {
        const int32_t off = r * x_step;
        switch (g->count) {
        case 4:
            mt_axpy4_f32(y, g->x[0] + off, g->x[1] + off, g->x[2] + off, g->x[3] + off,
                         g->a[0], g->a[1], g->a[2], g->a[3], n);
            break;
        case 3:
            mt_axpy2_f32(y, g->x[0] + off, g->x[1] + off, g->a[0], g->a[1], n);
            mt_axpy1_f32(y, g->x[2] + off, g->a[2], n);
            break;
        case 2:
            mt_axpy2_f32(y, g->x[0] + off, g->x[1] + off, g->a[0], g->a[1], n);
            break;
        case 1:
            mt_axpy1_f32(y, g->x[0] + off, g->a[0], n);
            break;
        default:
            break;
        }
    }
}

#endif /* MT_AXPY_F32_H */
