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
#include "q_dot.h"   /* <arm_acle.h> on DSP cores (__qsub) */

/* floor((v + r) / 2^sh), r uniform in [0, 2^sh) from the PRNG when sh > 0: an
 * unbiased rounding of v / 2^sh; sh <= 32, |v| < 2^62. */
static int64_t stochastic_shift(int64_t v, int32_t sh, uint32_t *rng)
{
    if (sh == 0)
        return v;
    *rng = q_xorshift32(*rng);
    const uint32_t r = *rng >> (32 - sh);
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
    if (!momentum && t < 0) {
        /* The common case, one draw per element in element order. A zero gradient
         * gives step = floor(r / 2^sh) = 0 (r < 2^sh): only the draw happens. */
        const int32_t m = p->lr_multiplier, rsh = 32 - sh;
        uint32_t state = *rng;
        for (int32_t i = 0; i < size; i++) {
            state = q_xorshift32(state);
            const int32_t g = grad[i];
            if (g == 0)
                continue;
            /* |m * g| < 2^47, + r < 2^32: no overflow; the result is |step| < 2^47 */
            const int64_t v = q_floor_shift((int64_t)m * g, pre) + (int64_t)(state >> rsh);
            master[i] = q_sat32((int64_t)master[i] - q_floor_shift(v, sh));
        }
        *rng = state;
        return MT_OK;
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

/* The engine's fused update + refresh (train_q.c), for the common case: no momentum
 * and t = eg - lr_shift - em < 0. The same draws and master values as
 * mt_sgd_update_q; besides, every changed master is requantized into weight_q at
 * the forward copy's current shift s_old (0..25) and *bits |= |master| of the
 * changed ones, so the caller can tell whether the shift moved (q_internal.h) and
 * redo the whole copy only then. Unchanged masters keep their int8 copies, which
 * are refresh(master) at s_old already. */
typedef struct {
    int32_t *master;
    int8_t *weight_q;
    int32_t m, pre, sh, rsh, s_old;   /* rsh = 32 - sh                                   */
    uint32_t glim;          /* pre == 0, sh <= 31 and |g| < glim = 2^(15+sh): the step
                               fits int32 (0: never)                                 */
    int32_t s1;             /* s_old - 1, and base = 2^(31 - s_old): q_to_s8_32's terms */
    int32_t base;
} sgd_consts;

/* int32 of the low word of a value known to fit int32 (no implementation-defined
 * conversion; compiles to nothing). */
static inline int32_t q_s32_of_u32(uint32_t u)
{
    return u < 0x80000000u ? (int32_t)u : -(int32_t)(~u) - 1;
}

/* Element i with a non-zero gradient g and its draw `state`: the new master (stored,
 * with its int8 copy at s_old, as q_to_s8_32); returns its |value|. The constants
 * come through k, so the loop over zero gradients keeps few registers live. */
static inline uint32_t sgd_changed(const sgd_consts *k, int32_t g, uint32_t state, int32_t i)
{
    const uint32_t r = state >> k->rsh;
    int32_t w = k->master[i];
    if (q_abs_u32(g) < k->glim) {
        /* |m*g| + r < (2^16 - 1)(2^(15+sh) - 1) + 2^sh < 2^(31+sh), so the floor
         * shift is in [-2^31, 2^31): its low word is the whole result */
        const uint64_t u = (uint64_t)((int64_t)k->m * g + (int64_t)r);
        const int32_t step = q_s32_of_u32((uint32_t)u >> k->sh | (uint32_t)(u >> 32) << k->rsh);
#if defined(__ARM_FEATURE_DSP)
        w = __qsub(w, step);
#else
        w = q_sat32((int64_t)w - step);
#endif
    } else {
        const int64_t v = q_floor_shift((int64_t)k->m * g, k->pre) + (int64_t)r;
        w = q_sat32((int64_t)w - q_floor_shift(v, k->sh));
    }
    k->master[i] = w;
    int32_t q = w;
    if (k->s_old > 0)
        q = (int32_t)(((((uint32_t)w ^ 0x80000000u) >> k->s1) + 1u) >> 1) - k->base;
    k->weight_q[i] = (int8_t)(q > Q_INT8_MAX ? Q_INT8_MAX : q < -Q_INT8_MAX ? -Q_INT8_MAX : q);
    return q_abs_u32(w);
}

mt_status mt_qi_sgd_update_refresh(const mt_sgd_q_params *p, int32_t size,
                                   int32_t *master, int32_t em,
                                   const int32_t *grad, int32_t eg, uint32_t *rng,
                                   int8_t *weight_q, int32_t s_old, uint32_t *bits)
{
    MT_CHECK(p && master && grad && rng && weight_q && bits, MT_ERR_NULL);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    MT_CHECK(p->lr_multiplier >= 0 && p->lr_multiplier <= 65535 &&
             p->lr_shift >= 0 && p->lr_shift <= 62 && *rng != 0, MT_ERR_ARG);
    MT_CHECK(p->momentum_multiplier == 0 && s_old >= 0 && s_old <= 25, MT_ERR_ARG);
    MT_CHECK(q_exp_ok(em) && q_exp_ok(eg), MT_ERR_RANGE);
    const int32_t t = eg - p->lr_shift - em;
    MT_CHECK(t < 0, MT_ERR_ARG);
    sgd_consts k;
    k.m = p->lr_multiplier;
    k.sh = -t;
    k.pre = 0;
    if (k.sh > 32) {
        k.pre = k.sh - 32;
        k.sh = 32;
    }
    k.rsh = 32 - k.sh;
    k.s_old = s_old;
    k.s1 = s_old > 0 ? s_old - 1 : 0;
    k.base = s_old > 0 ? (int32_t)(1u << (31 - s_old)) : 0;
    k.master = master;
    k.weight_q = weight_q;
    k.glim = k.pre != 0 || k.sh > 31 ? 0u : k.sh >= 17 ? 0xffffffffu : 1u << (15 + k.sh);
    uint32_t state = *rng, acc = *bits;
    /* g == 0: step = floor(r / 2^sh) = 0 (r < 2^sh): only the draw happens */
    const int32_t *gp = grad, *const end2 = grad + (size & ~1), *const end = grad + size;
    for (; gp != end2; gp += 2) {             /* two elements per test for zeros */
        const uint32_t s0 = q_xorshift32(state), s1 = q_xorshift32(s0);
        const int32_t g0 = gp[0], g1 = gp[1];
        state = s1;
        if ((g0 | g1) == 0)
            continue;
        const int32_t i = (int32_t)(gp - grad);
        if (g0 != 0)
            acc |= sgd_changed(&k, g0, s0, i);
        if (g1 != 0)
            acc |= sgd_changed(&k, g1, s1, i + 1);
    }
    if (gp != end) {
        state = q_xorshift32(state);
        if (*gp != 0) {
            const int32_t i = (int32_t)(gp - grad);
            acc |= sgd_changed(&k, *gp, state, i);
        }
    }
    *rng = state;
    *bits = acc;
    return MT_OK;
}
