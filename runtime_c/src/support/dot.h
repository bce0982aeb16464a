/* dot.h - the float dot product every dense inner loop uses (internal). */
#ifndef MT_DOT_H
#define MT_DOT_H

#include <stdint.h>

/* sum + a . b over n terms, added in index order (so results do not depend on the
 * unrolling), four per iteration to spend fewer instructions on the loop itself. */
static inline float mt_dot_f32(const float *a, const float *b, int32_t n, float sum)
{
    int32_t k = 0;
    for (; k + 4 <= n; k += 4) {
        sum += a[k] * b[k];
        sum += a[k + 1] * b[k + 1];
        sum += a[k + 2] * b[k + 2];
        sum += a[k + 3] * b[k + 3];
    }
    for (; k < n; k++)
        sum += a[k] * b[k];
    return sum;
}

#endif /* MT_DOT_H */
