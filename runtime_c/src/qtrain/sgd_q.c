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
 * inputs and the seed.
 * The engine's fused update + refresh (no momentum, t < 0) has assembly loops on DSP
 * cores (GCC): sgd_pairs_dsp over a stored gradient block, sgd_row_dsp for a linear
 * layer at batch 1 with the gradient dy[o] x[k] formed on the fly. They draw and round
 * exactly as the C loop (one SMLAL gives the stochastic floor, see sgd_pairs_dsp);
 * tests/c/test_qtrain_fast.c checks them against mt_sgd_update_q on the emulated
 * Cortex-M4/M7/M33 (tests/test_qtrain_fast.py). */
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

#if defined(Q_DSP_ASM)
#define SGD_ASM 1
/* The pairs of grad[0 .. end) on a DSP core, in assembly: per element one xorshift32
 * draw, and for a non-zero g (|g| < 2^15, 1 <= sh <= 16, s_old >= 1):
 *   step = floor((m*g*2^(32-sh) + state) / 2^32)       one SMLAL: (g << 16) * M2 with
 *          = floor((m*g + (state >> (32-sh))) / 2^sh)   M2 = m << (16 - sh) < 2^31,
 *          the low 32 - sh bits of the state never carry into the result;
 *   master = QSUB(master, step)                         (= sat32(master - step));
 *   copy   = ASR(QADD(master, 2^(s-1)), s)               its low byte is stored.
 * The copy is the refresh rule at s = s_old unless QADD saturated or the rounded value
 * r left [-127, 127] (257 r leaves the int16 range: SSAT #16); both, and a saturating
 * QSUB, set the sticky Q flag, which is returned: the caller then redoes the layer's
 * whole copy. Without Q every stored copy is exact, and no changed master reached
 * 2^(s_old+7) (that would round to |r| >= 128). Returns the state; *q gets Q != 0. */
__attribute__((noinline)) static uint32_t sgd_pairs_dsp(const int32_t *gp, const int32_t *end, uint32_t st,
                              int32_t M2, int32_t mo, uint32_t qoff, int32_t half, int32_t s,
                              uint32_t *q)
{
    int32_t g0, g1, t, h, w;
    __asm__ volatile(
        "movs   %[t], #0\n\t"
        "msr    APSR_nzcvq, %[t]\n\t"
        "cmp    %[gp], %[end]\n\t"
        "beq    9f\n"
        "1:\n\t"
        "ldrd   %[g0], %[g1], [%[gp]], #8\n\t"
        "eor    %[st], %[st], %[st], lsl #13\n\t"
        "eor    %[st], %[st], %[st], lsr #17\n\t"
        "eor    %[st], %[st], %[st], lsl #5\n\t"
        "cbnz   %[g0], 3f\n"
        "2:\n\t"
        "eor    %[st], %[st], %[st], lsl #13\n\t"
        "eor    %[st], %[st], %[st], lsr #17\n\t"
        "eor    %[st], %[st], %[st], lsl #5\n\t"
        "cbnz   %[g1], 4f\n"
        "5:\n\t"
        "cmp    %[gp], %[end]\n\t"
        "bne    1b\n\t"
        "b      9f\n"
        "3:\n\t"                                   /* element 0 of the pair */
        "lsls   %[g0], %[g0], #16\n\t"
        "mov    %[t], %[st]\n\t"
        "movs   %[h], #0\n\t"
        "smlal  %[t], %[h], %[g0], %[M2]\n\t"
        "ldr    %[w], [%[gp], %[mo]]\n\t"
        "qsub   %[w], %[w], %[h]\n\t"
        "str    %[w], [%[gp], %[mo]]\n\t"
        "qadd   %[t], %[w], %[half]\n\t"
        "asrs   %[t], %[t], %[s]\n\t"
        "add    %[h], %[t], %[t], lsl #8\n\t"
        "ssat   %[h], #16, %[h]\n\t"
        "add    %[h], %[qoff], %[gp], lsr #2\n\t"
        "strb   %[t], [%[h], #-2]\n\t"
        "b      2b\n"
        "4:\n\t"                                   /* element 1 */
        "lsls   %[g1], %[g1], #16\n\t"
        "mov    %[t], %[st]\n\t"
        "movs   %[h], #0\n\t"
        "smlal  %[t], %[h], %[g1], %[M2]\n\t"
        "add    %[g0], %[gp], %[mo]\n\t"
        "ldr    %[w], [%[g0], #4]\n\t"
        "qsub   %[w], %[w], %[h]\n\t"
        "str    %[w], [%[g0], #4]\n\t"
        "qadd   %[t], %[w], %[half]\n\t"
        "asrs   %[t], %[t], %[s]\n\t"
        "add    %[h], %[t], %[t], lsl #8\n\t"
        "ssat   %[h], #16, %[h]\n\t"
        "add    %[h], %[qoff], %[gp], lsr #2\n\t"
        "strb   %[t], [%[h], #-1]\n\t"
        "b      5b\n"
        "9:\n\t"
        "mrs    %[t], APSR\n\t"
        : [st] "+r"(st), [gp] "+r"(gp), [g0] "=&l"(g0), [g1] "=&l"(g1),
          [t] "=&r"(t), [h] "=&r"(h), [w] "=&r"(w)
        : [end] "r"(end), [M2] "r"(M2), [mo] "r"(mo), [qoff] "r"(qoff),
          [half] "r"(half), [s] "r"(s)
        : "cc", "memory");
    *q = (uint32_t)t & (1u << 27);
    return st;
}

/* The fused linear update of one weight row at batch 1, grad[k] = dy * x[k] (never
 * stored), as sgd_pairs_dsp but one element per test: x == 0 only draws; else
 * (x << 16) * dy = g << 16 (|g| < 2^14) goes through the same SMLAL, QSUB, QADD/ASR
 * and SSAT steps. mo = master row - 4 * x (bytes, mod 2^32), qo = copy row - x - 1. */
__attribute__((noinline)) static uint32_t sgd_row_dsp(const int8_t *xp, const int8_t *end,
                                                      uint32_t st, int32_t dy16, int32_t M2,
                                                      uint32_t mo, uint32_t qo, int32_t half,
                                                      int32_t s, uint32_t *q)
{
    int32_t x, t, h, w;
    __asm__ volatile(
        "movs   %[t], #0\n\t"
        "msr    APSR_nzcvq, %[t]\n\t"
        "cmp    %[xp], %[end]\n\t"
        "beq    9f\n"
        "1:\n\t"
        "ldrsb  %[x], [%[xp]], #1\n\t"
        "eor    %[st], %[st], %[st], lsl #13\n\t"
        "eor    %[st], %[st], %[st], lsr #17\n\t"
        "eor    %[st], %[st], %[st], lsl #5\n\t"
        "cbnz   %[x], 3f\n"
        "2:\n\t"
        "cmp    %[xp], %[end]\n\t"
        "bne    1b\n\t"
        "b      9f\n"
        "3:\n\t"
        "mul    %[x], %[x], %[dy16]\n\t"
        "mov    %[t], %[st]\n\t"
        "movs   %[h], #0\n\t"
        "smlal  %[t], %[h], %[x], %[M2]\n\t"
        "add    %[x], %[mo], %[xp], lsl #2\n\t"
        "ldr    %[w], [%[x], #-4]\n\t"
        "qsub   %[w], %[w], %[h]\n\t"
        "str    %[w], [%[x], #-4]\n\t"
        "qadd   %[t], %[w], %[half]\n\t"
        "asrs   %[t], %[t], %[s]\n\t"
        "add    %[h], %[t], %[t], lsl #8\n\t"
        "ssat   %[h], #16, %[h]\n\t"
        "strb   %[t], [%[xp], %[qo]]\n\t"
        "b      2b\n"
        "9:\n\t"
        "mrs    %[t], APSR\n\t"
        : [st] "+r"(st), [xp] "+r"(xp), [x] "=&l"(x), [t] "=&r"(t), [h] "=&r"(h),
          [w] "=&r"(w)
        : [end] "r"(end), [dy16] "r"(dy16), [M2] "r"(M2), [mo] "r"(mo), [qo] "r"(qo),
          [half] "r"(half), [s] "r"(s)
        : "cc", "memory");
    *q = (uint32_t)t & (1u << 27);
    return st;
}
#endif

mt_status mt_qi_sgd_linear_refresh(const mt_sgd_q_params *p, int32_t rows, int32_t K,
                                   const int8_t *x, const int8_t *dy, int32_t *master,
                                   int32_t em, int32_t eg, uint32_t *rng, int8_t *weight_q,
                                   int32_t s_old, uint32_t *bits)
{
    MT_CHECK(p && x && dy && master && rng && weight_q && bits, MT_ERR_NULL);
    MT_CHECK(rows >= 1 && K >= 1, MT_ERR_SHAPE);
#if defined(SGD_ASM)
    MT_CHECK(p->lr_multiplier >= 0 && p->lr_multiplier <= 65535 &&
             p->lr_shift >= 0 && p->lr_shift <= 62 && *rng != 0, MT_ERR_ARG);
    MT_CHECK(p->momentum_multiplier == 0, MT_ERR_ARG);
    MT_CHECK(q_exp_ok(em) && q_exp_ok(eg), MT_ERR_RANGE);
    const int32_t sh = p->lr_shift + em - eg;      /* -t */
    MT_CHECK(sh >= 1 && sh <= 16 && s_old >= 1 && s_old <= 25, MT_ERR_UNSUPPORTED);
    const int32_t M2 = p->lr_multiplier << (16 - sh), half = (int32_t)1 << (s_old - 1);
    uint32_t state = *rng, qflag = 0;
    for (int32_t o = 0; o < rows; o++, master += K, weight_q += K) {
        const int32_t d = dy[o];
        if (d == 0) {              /* a zero row: K draws, nothing changes */
            int32_t k = K;
            for (; k >= 8; k -= 8) {
                state = q_xorshift32(q_xorshift32(q_xorshift32(q_xorshift32(state))));
                state = q_xorshift32(q_xorshift32(q_xorshift32(q_xorshift32(state))));
            }
            for (; k > 0; k--)
                state = q_xorshift32(state);
            continue;
        }
        uint32_t q = 0;
        state = sgd_row_dsp(x, x + K, state, (int32_t)((uint32_t)d << 16), M2,
                            (uint32_t)(uintptr_t)master - 4u * (uint32_t)(uintptr_t)x,
                            (uint32_t)(uintptr_t)weight_q - (uint32_t)(uintptr_t)x - 1u,
                            half, s_old, &q);
        qflag |= q;
    }
    *rng = state;
    if (qflag)
        *bits |= 0x80000000u;
    return MT_OK;
#else
    (void)em, (void)eg, (void)s_old;
    return MT_ERR_UNSUPPORTED;     /* the caller takes dW + mt_qi_sgd_update_refresh */
#endif
}

mt_status mt_qi_sgd_update_refresh(const mt_sgd_q_params *p, int32_t size,
                                   int32_t *master, int32_t em,
                                   const int32_t *grad, int32_t eg, uint32_t *rng,
                                   int8_t *weight_q, int32_t s_old, int32_t g_bits,
                                   uint32_t *bits)
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
#if defined(SGD_ASM)
    if (g_bits <= 15 && k.pre == 0 && k.sh >= 1 && k.sh <= 16 && s_old >= 1) {
        uint32_t qflag = 0;
        state = sgd_pairs_dsp(grad, end2, state, k.m << (16 - k.sh),
                              (int32_t)((uint32_t)(uintptr_t)master - (uint32_t)(uintptr_t)grad - 8u),
                              (uint32_t)(uintptr_t)weight_q - ((uint32_t)(uintptr_t)grad >> 2),
                              (int32_t)1 << (s_old - 1), s_old, &qflag);
        if (qflag)
            acc |= 0x80000000u;         /* some copy may be off: redo the layer's */
        gp = end2;
    }
#else
    (void)g_bits;
#endif
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
