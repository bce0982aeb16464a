/* sgd_q.c - SGD (optional momentum) on an int32 master with stochastic rounding.
 *
 *   master[i] -= lr * grad[i],   lr = m * 2^-k,
 *   grad at 2^eg, master at 2^em:
 *   delta = m * grad * 2^t,  t = eg - k - em   (in master units)
 * t >= 0: delta is an integer (saturating shift). t < 0: delta has -t fractional
 * bits and is rounded stochastically (Gupta et al. 2015; NITI, Wang et al. 2022):
 *   delta = floor((m*grad + r) / 2^-t),  r uniform in [0, 2^-t) from xorshift32,
 * so E[delta] = m*grad*2^t exactly and updates far below one master LSB still move
 * the weight on average. At most 32 random bits are used: for -t > 32 the product
 * is first floored by 2^(-t-32) (a bias below 2^-32 LSB).
 * Momentum mu = mm * 2^-mk keeps velocity = lr * buf in master units and decays it
 * with the same unbiased rounding: velocity = round_sr(mm * velocity / 2^mk) + delta.
 * PRNG draws, per element in element order: one for delta when t < 0, then one for
 * the decay when momentum is on and mk > 0; so the result depends only on the
 * inputs and the seed. */
#include "q_internal.h"

/* floor((v + r) / 2^sh), r uniform in [0, 2^sh) from the PRNG when sh > 0: an
 * unbiased rounding of v / 2^sh; sh <= 32, |v| < 2^62. */
static int64_t stochastic_shift(int64_t v, int32_t sh, uint32_t *rng)
{
    if (sh == 0)
        return v;
    const uint32_t r = mt_q_rand(rng) >> (32 - sh);
    return q_floor_shift(v + (int64_t)r, sh);
}

mt_status mt_sgd_update_q(const mt_sgd_q_params *p, int32_t size,
                          int32_t *master, int32_t em,
                          const int32_t *grad, int32_t eg,
                          int32_t *velocity, uint32_t *rng)
{
    MT_CHECK(p && master && grad && rng, MT_ERR_NULL);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    MT_CHECK(p->lr_multiplier >= 0 && p->lr_multiplier <= 65535 &&
             p->lr_shift >= 0 && p->lr_shift <= 62 && *rng != 0, MT_ERR_ARG);
    MT_CHECK(p->momentum_multiplier >= 0 && p->momentum_multiplier <= 65535 &&
             p->momentum_shift >= 0 && p->momentum_shift <= 30 &&
             p->momentum_multiplier < ((int32_t)1 << p->momentum_shift), MT_ERR_ARG);  /* mu < 1 */
    const int momentum = p->momentum_multiplier > 0;
    MT_CHECK(velocity || !momentum, MT_ERR_NULL);
    MT_CHECK(q_exp_ok(em) && q_exp_ok(eg), MT_ERR_RANGE);
    const int32_t t = eg - p->lr_shift - em;
    int32_t sh = t < 0 ? -t : 0, pre = 0;
    if (sh > 32) {
        pre = sh - 32;
        sh = 32;
    }
    for (int32_t i = 0; i < size; i++) {
        /* Overflow: |m * grad| < 2^16 * 2^31 = 2^47. */
        int64_t step = (int64_t)p->lr_multiplier * grad[i];
        step = t >= 0 ? q_left_shift_sat(step, t)                 /* |step| < 2^62 */
                      : stochastic_shift(q_floor_shift(step, pre), sh, rng);
        if (momentum) {
            /* |mu_m * v| < 2^47; |step| < 2^62, so the int64 sum cannot overflow */
            const int64_t decayed = stochastic_shift((int64_t)p->momentum_multiplier * velocity[i],
                                                     p->momentum_shift, rng);
            velocity[i] = q_sat32(decayed + step);
            step = velocity[i];
        }
        master[i] = q_sat32((int64_t)master[i] - step);
    }
    return MT_OK;
}
