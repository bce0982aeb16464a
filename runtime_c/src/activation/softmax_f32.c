/* softmax_f32.c - softmax and log-softmax over the last axis (rows x cols).
 *
 * Row r is x[r*cols .. r*cols + cols-1]. out == in and d_in == d_out are allowed.
 * A NULL d_in skips the gradient; y may then be NULL too.
 */
#include "mt/mt.h"
#include "../support/check.h"
#include "../support/mt_math.h"

/* 1 if rows, cols >= 1 and rows*cols fits in int32. */
static int rows_cols_ok(int32_t rows, int32_t cols)
{
    return rows >= 1 && cols >= 1 && (int64_t)rows * cols <= INT32_MAX;
}

static float row_max(int32_t cols, const float *x)
{
    float m = x[0];
    for (int32_t j = 1; j < cols; j++)
        if (x[j] > m) m = x[j];
    return m;
}

/* y[r,j] = exp(x[r,j] - m_r) / sum_k exp(x[r,k] - m_r),  m_r = max_k x[r,k] */
mt_status mt_softmax_f32(int32_t rows, int32_t cols, const float *in, float *out)
{
    MT_CHECK(in && out, MT_ERR_NULL);
    MT_CHECK(rows_cols_ok(rows, cols), MT_ERR_SHAPE);
    for (int32_t r = 0; r < rows; r++) {
        const float *x = in + r * cols;
        float *y = out + r * cols;
        float m = row_max(cols, x);
        float sum = 0.0f;
        for (int32_t j = 0; j < cols; j++) {
            y[j] = mt_expf(x[j] - m);
            sum += y[j];
        }
        float inv = 1.0f / sum;
        for (int32_t j = 0; j < cols; j++)
            y[j] *= inv;
    }
    return MT_OK;
}

/* dx[r,j] = y[r,j] * (dy[r,j] - sum_k dy[r,k] * y[r,k]) */
mt_status mt_softmax_f32_backward(int32_t rows, int32_t cols, const float *out,
                                  const float *d_out, float *d_in)
{
    MT_CHECK(d_out && (!d_in || out), MT_ERR_NULL);
    MT_CHECK(rows_cols_ok(rows, cols), MT_ERR_SHAPE);
    if (!d_in)
        return MT_OK;
    for (int32_t r = 0; r < rows; r++) {
        const float *y = out + r * cols, *dy = d_out + r * cols;
        float *dx = d_in + r * cols;
        float dot = 0.0f;
        for (int32_t j = 0; j < cols; j++)
            dot += dy[j] * y[j];
        for (int32_t j = 0; j < cols; j++)
            dx[j] = y[j] * (dy[j] - dot);
    }
    return MT_OK;
}

/* y[r,j] = (x[r,j] - m_r) - log(sum_k exp(x[r,k] - m_r)),  m_r = max_k x[r,k] */
mt_status mt_log_softmax_f32(int32_t rows, int32_t cols, const float *in, float *out)
{
    MT_CHECK(in && out, MT_ERR_NULL);
    MT_CHECK(rows_cols_ok(rows, cols), MT_ERR_SHAPE);
    for (int32_t r = 0; r < rows; r++) {
        const float *x = in + r * cols;
        float *y = out + r * cols;
        float m = row_max(cols, x);
        float sum = 0.0f;
        for (int32_t j = 0; j < cols; j++)
            sum += mt_expf(x[j] - m);
        float log_sum = mt_logf(sum);
        for (int32_t j = 0; j < cols; j++)
            y[j] = (x[j] - m) - log_sum;
    }
    return MT_OK;
}

/* dx[r,j] = dy[r,j] - exp(y[r,j]) * sum_k dy[r,k] */
mt_status mt_log_softmax_f32_backward(int32_t rows, int32_t cols, const float *out,
                                      const float *d_out, float *d_in)
{
    MT_CHECK(d_out && (!d_in || out), MT_ERR_NULL);
    MT_CHECK(rows_cols_ok(rows, cols), MT_ERR_SHAPE);
    if (!d_in)
        return MT_OK;
    for (int32_t r = 0; r < rows; r++) {
        const float *y = out + r * cols, *dy = d_out + r * cols;
        float *dx = d_in + r * cols;
        float sum = 0.0f;
        for (int32_t j = 0; j < cols; j++)
            sum += dy[j];
        for (int32_t j = 0; j < cols; j++)
            dx[j] = dy[j] - mt_expf(y[j]) * sum;
    }
    return MT_OK;
}
