/* cross_entropy_f32.c - softmax cross-entropy from logits
 * (torch.nn.CrossEntropyLoss, class-index targets, mean reduction). */
#include <math.h>
#include "mt/mt.h"
#include "../support/check.h"
#include "../support/mt_math.h"

/* z (rows, classes), labels (rows,) in [0, classes):
 *   m_r = max_j z[r,j],  s_r = sum_j exp(z[r,j] - m_r)
 *   L = (1/rows) sum_r ( log(s_r) - (z[r,label_r] - m_r) )
 *   dL/dz[r,j] = (exp(z[r,j] - m_r) / s_r - [j == label_r]) / rows
 * d_logits may be NULL (overwritten otherwise). All labels are checked before
 * anything is written. Returns MT_ERR_NONFINITE after writing *loss if L is NaN
 * or Inf. */
mt_status mt_cross_entropy_f32(int32_t rows, int32_t classes, const float *logits,
                               const int32_t *labels, float *loss, float *d_logits)
{
    MT_CHECK(logits && labels && loss, MT_ERR_NULL);
    MT_CHECK(rows >= 1 && classes >= 1 && (int64_t)rows * classes <= INT32_MAX,
             MT_ERR_SHAPE);
    for (int32_t r = 0; r < rows; r++)
        MT_CHECK(labels[r] >= 0 && labels[r] < classes, MT_ERR_RANGE);

    const float inv_rows = 1.0f / (float)rows;
    float total = 0.0f;
    for (int32_t r = 0; r < rows; r++) {
        const float *z = logits + r * classes;
        const int32_t label = labels[r];
        float m = z[0];
        for (int32_t j = 1; j < classes; j++)
            if (z[j] > m) m = z[j];
        float s = 0.0f;
        for (int32_t j = 0; j < classes; j++)
            s += mt_expf(z[j] - m);
        total += mt_logf(s) - (z[label] - m);
        if (d_logits) {
            /* z[j] is read before d[j] is written, so even d_logits == logits works */
            float *d = d_logits + r * classes;
            float inv_s = 1.0f / s;
            for (int32_t j = 0; j < classes; j++) {
                float p = mt_expf(z[j] - m) * inv_s;
                d[j] = (j == label ? p - 1.0f : p) * inv_rows;
            }
        }
    }
    float L = total / (float)rows;
    *loss = L;
    return isfinite(L) ? MT_OK : MT_ERR_NONFINITE;
}
