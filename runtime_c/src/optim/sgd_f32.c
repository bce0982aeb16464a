/* sgd_f32.c - stochastic gradient descent, exactly as torch.optim.SGD. */
#include <math.h>
#include "mt/mt.h"
#include "../support/backward_ref_f32.h"
#include "../support/check.h"

static int all_finite(int32_t size, const float *x)
{
    for (int32_t i = 0; i < size; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* 1 if every a[i] and b[i] is finite, the fast way: a float sum is finite only if
 * every term is (an Inf or NaN term leaves it Inf or NaN for good), so a finite sum
 * settles it with one add per element; a non-finite one (which finite terms reach
 * only by overflowing) is settled element by element.                          */
static int all_finite2(int32_t size, const float *a, const float *b)
{
    float sa = 0.0f, sb = 0.0f;
    int32_t i = 0;
    for (; i + 4 <= size; i += 4) {
        sa += a[i];
        sb += b[i];
        sa += a[i + 1];
        sb += b[i + 1];
        sa += a[i + 2];
        sb += b[i + 2];
        sa += a[i + 3];
        sb += b[i + 3];
    }
    for (; i < size; i++) {
        sa += a[i];
        sb += b[i];
    }
    if (isfinite(sa) && isfinite(sb))
        return 1;
    return all_finite(size, a) && all_finite(size, b);
}

static mt_status sgd_check(const mt_sgd_params *params, int32_t step, int32_t size,
                           float *param, const float *grad, float *momentum_buf)
{
    MT_CHECK(params && param && grad, MT_ERR_NULL);
    MT_CHECK(params->momentum == 0.0f || momentum_buf, MT_ERR_NULL);
    const float lr = params->lr, momentum = params->momentum;
    const float dampening = params->dampening, wd = params->weight_decay;
    MT_CHECK(lr >= 0.0f && isfinite(lr), MT_ERR_ARG);
    MT_CHECK(momentum >= 0.0f && isfinite(momentum), MT_ERR_ARG);
    MT_CHECK(wd >= 0.0f && isfinite(wd), MT_ERR_ARG);
    MT_CHECK(isfinite(dampening), MT_ERR_ARG);
    MT_CHECK(!params->nesterov || (momentum > 0.0f && dampening == 0.0f), MT_ERR_ARG);
    MT_CHECK(step >= 1, MT_ERR_ARG);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    return MT_OK;
}

/* The general update (reference twin of every case). */
static void sgd_update(const mt_sgd_params *params, int32_t step, int32_t size,
                       float *param, const float *grad, float *momentum_buf)
{
    const float lr = params->lr, momentum = params->momentum;
    const float dampening = params->dampening, wd = params->weight_decay;
    for (int32_t i = 0; i < size; i++) {
        float g = grad[i] + wd * param[i];
        if (momentum != 0.0f) {
            float buf = step == 1 ? g
                                  : momentum * momentum_buf[i] + (1.0f - dampening) * g;
            momentum_buf[i] = buf;
            g = params->nesterov ? g + momentum * buf : buf;
        }
        param[i] -= lr * g;
    }
}

/* Plain SGD (no momentum, no weight decay): p -= lr * grad. The same values as
 * sgd_update, whose grad + 0 * p only differs from grad in the sign of a zero.  */
static void sgd_update_plain(float lr, int32_t size, float *param, const float *grad)
{
    int32_t i = 0;
    for (; i + 4 <= size; i += 4) {
        const float p0 = param[i] - lr * grad[i];
        const float p1 = param[i + 1] - lr * grad[i + 1];
        const float p2 = param[i + 2] - lr * grad[i + 2];
        const float p3 = param[i + 3] - lr * grad[i + 3];
        param[i] = p0;
        param[i + 1] = p1;
        param[i + 2] = p2;
        param[i + 3] = p3;
    }
    for (; i < size; i++)
        param[i] -= lr * grad[i];
}

/* One step on size parameters p with gradients grad (torch.optim.SGD):
 *   g = grad + weight_decay * p
 *   if momentum != 0:
 *       buf = g                                        on step 1
 *       buf = momentum * buf + (1 - dampening) * g     afterwards
 *       g   = nesterov ? g + momentum * buf : buf
 *   p = p - lr * g
 * Nothing is modified (MT_ERR_NONFINITE) if a gradient or parameter is NaN/Inf. */
mt_status mt_sgd_step_f32(const mt_sgd_params *params, int32_t step, int32_t size,
                          float *param, const float *grad, float *momentum_buf)
{
    mt_status st = sgd_check(params, step, size, param, grad, momentum_buf);
    MT_CHECK(st == MT_OK, st);
    MT_CHECK(all_finite2(size, grad, param), MT_ERR_NONFINITE);
    if (params->momentum == 0.0f && params->weight_decay == 0.0f)
        sgd_update_plain(params->lr, size, param, grad);
    else
        sgd_update(params, step, size, param, grad, momentum_buf);
    return MT_OK;
}

mt_status mt_sgd_step_f32_ref(const mt_sgd_params *params, int32_t step, int32_t size,
                              float *param, const float *grad, float *momentum_buf)
{
    mt_status st = sgd_check(params, step, size, param, grad, momentum_buf);
    MT_CHECK(st == MT_OK, st);
    MT_CHECK(all_finite(size, grad) && all_finite(size, param), MT_ERR_NONFINITE);
    sgd_update(params, step, size, param, grad, momentum_buf);
    return MT_OK;
}
