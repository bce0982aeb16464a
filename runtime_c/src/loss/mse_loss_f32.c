/* mse_loss_f32.c - mean squared error (torch.nn.MSELoss, mean reduction). */
#include <math.h>
#include "mt/mt.h"
#include "../support/check.h"

/* p, t (size,):  L = sum_i (p[i] - t[i])^2 / size
 *                dL/dp[i] = (2 / size) * (p[i] - t[i])   (overwritten; d_pred may be NULL)
 * Returns MT_ERR_NONFINITE after writing *loss (and d_pred) if L is NaN or Inf. */
mt_status mt_mse_loss_f32(int32_t size, const float *pred, const float *target,
                          float *loss, float *d_pred)
{
    MT_CHECK(pred && target && loss, MT_ERR_NULL);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);

    float sum = 0.0f;
    for (int32_t i = 0; i < size; i++) {
        float d = pred[i] - target[i];
        sum += d * d;
    }
    float L = sum / (float)size;
    if (d_pred) {
        float scale = 2.0f / (float)size;
        for (int32_t i = 0; i < size; i++)
            d_pred[i] = scale * (pred[i] - target[i]);
    }
    *loss = L;
    return isfinite(L) ? MT_OK : MT_ERR_NONFINITE;
}
