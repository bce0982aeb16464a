/* adam_f32.c - Adam, exactly as torch.optim.Adam (L2 weight decay, no amsgrad). */
#include <math.h>
#include "mt/mt.h"
#include "../support/check.h"

static int all_finite(int32_t size, const float *x)
{
    for (int32_t i = 0; i < size; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* a + w * (b - a), rounded the way PyTorch's lerp rounds it. */
static float lerp(float a, float b, float w)
{
    return w < 0.5f ? a + w * (b - a) : b - (b - a) * (1.0f - w);
}

/* 1 - beta^n for n >= 1, without the cancellation of computing beta^n first.
 * With c(n) = 1 - beta^n:  c(2n) = c(n) (2 - c(n)),  c(m + n) = c(m) + c(n) - c(m) c(n),
 * applied by binary powering from c(1) = 1 - beta (exact in float for beta in
 * [0.5, 1)). Relative error a few ulp of the result, where 1 - powf(beta, n) loses
 * ~log2(1/c) bits; and only IEEE + - *, so every target gets the same bits (libm's
 * powf differs between glibc and newlib in the last place). PyTorch evaluates
 * 1 - beta**t in double; this stays within a few float ulp of that. */
static float one_minus_pow(float beta, int32_t n)
{
    float result = 0.0f;           /* 1 - beta^0 */
    float base = 1.0f - beta;      /* 1 - beta^1 */
    while (n > 0) {
        if (n & 1)
            result = result + base - result * base;
        base = base * (2.0f - base);
        n >>= 1;
    }
    return result;
}

/* One step at step t >= 1 on size parameters p (torch.optim.Adam, single tensor):
 *   g = grad + weight_decay * p
 *   m = beta1 * m + (1 - beta1) * g              (as PyTorch: m.lerp_(g, 1 - beta1))
 *   v = beta2 * v + (1 - beta2) * g^2
 *   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * Nothing is modified (MT_ERR_NONFINITE) if a gradient or parameter is NaN/Inf. */
mt_status mt_adam_step_f32(const mt_adam_params *params, int32_t step, int32_t size,
                           float *param, const float *grad, float *m, float *v)
{
    MT_CHECK(params && param && grad && m && v, MT_ERR_NULL);
    const float lr = params->lr, beta1 = params->beta1, beta2 = params->beta2;
    const float eps = params->eps, wd = params->weight_decay;
    MT_CHECK(lr >= 0.0f && isfinite(lr), MT_ERR_ARG);
    MT_CHECK(beta1 >= 0.0f && beta1 < 1.0f, MT_ERR_ARG);
    MT_CHECK(beta2 >= 0.0f && beta2 < 1.0f, MT_ERR_ARG);
    MT_CHECK(eps >= 0.0f && isfinite(eps), MT_ERR_ARG);
    MT_CHECK(wd >= 0.0f && isfinite(wd), MT_ERR_ARG);
    MT_CHECK(step >= 1, MT_ERR_ARG);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    MT_CHECK(all_finite(size, grad) && all_finite(size, param), MT_ERR_NONFINITE);

    const float bias_correction1 = one_minus_pow(beta1, step);
    const float bias_correction2 = one_minus_pow(beta2, step);
    const float step_size = lr / bias_correction1;
    const float bias_correction2_sqrt = sqrtf(bias_correction2);
    for (int32_t i = 0; i < size; i++) {
        float g = grad[i] + wd * param[i];
        m[i] = lerp(m[i], g, 1.0f - beta1);
        v[i] = v[i] * beta2 + (1.0f - beta2) * g * g;
        float denom = sqrtf(v[i]) / bias_correction2_sqrt + eps;
        param[i] -= step_size * m[i] / denom;
    }
    return MT_OK;
}
