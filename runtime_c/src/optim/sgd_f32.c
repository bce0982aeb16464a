/* sgd_f32.c - stochastic gradient descent, exactly as torch.optim.SGD. */
#include <math.h>
#include "mt/mt.h"
#include "../support/check.h"

static int all_finite(int32_t size, const float *x)
{
    for (int32_t i = 0; i < size; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
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
    MT_CHECK(all_finite(size, grad) && all_finite(size, param), MT_ERR_NONFINITE);

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
    return MT_OK;
}
