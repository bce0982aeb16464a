/* mt_math.c - expf, logf and tanhf from IEEE single-precision arithmetic only.
 *
 * Why: libm's results differ between glibc and newlib in the last place, so host
 * and board training drifted apart. Here every operation is an IEEE float +, -,
 * *, / (correctly rounded on every target: the FPU, or libgcc's soft-float on
 * the M0/M3), a comparison, a float<->int conversion of a small integer, or an
 * exact bit manipulation through memcpy. No libm call, no double (the M4F's FPU
 * is single precision only), no FMA (-ffp-contract=off): the same bits everywhere.
 *
 * The polynomial coefficients are weighted minimax fits computed by
 * tests/fit_mt_math.py (an exact linear-programming minimax on a 2001-point
 * Chebyshev grid, target in 40-digit arithmetic, coefficients rounded to float
 * one by one with re-fitting). The approximation errors quoted below are those
 * of the rounded coefficients; the evaluation in float adds the rest.
 *
 * Measured max error against the exact value, over EVERY float input (reference
 * in double; tests/test_math.py re-checks a sample of a few million inputs):
 *   mt_expf  0.864 ulp (at x = 4.5128)   99.6% of results correctly rounded
 *   mt_logf  0.840 ulp (at x = 1.4133)   99.4%
 *   mt_tanhf 1.041 ulp (at x = 0.8665)   99.9%
 * so every result is within 1 ulp of the correctly rounded one. All three are
 * non-decreasing over consecutive floats (checked over every float as well).
 * See mt_math.h for the special values.
 */
#include <stdint.h>
#include <string.h>
#include "mt_math.h"

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* 2^k for -126 <= k <= 127, built from its bits (exact). */
static float pow2i(int k)
{
    return from_bits((uint32_t)(k + 127) << 23);
}

#define MT_INF_BITS 0x7f800000u
#define MT_NAN_BITS 0x7fc00000u

/* ln 2 = LN2_HI + LN2_LO. LN2_HI has 15 significant bits, so k * LN2_HI is exact
 * for |k| < 512 (expf's k and logf's exponent are within +-151). */
#define LN2_HI 0x1.62e4p-1f
#define LN2_LO 0x1.7f7d1cp-20f
#define INV_LN2 0x1.715476p+0f

/* ---- expf ----------------------------------------------------------------------
 * exp(x) = 2^k * exp(r),  k = round(x / ln2),  r = x - k ln2,  |r| <= ln2/2 (+ slack).
 * Cody-Waite reduction: hi = x - k*LN2_HI is exact (k*LN2_HI is exact and hi is
 * a multiple of x's last place that fits 24 bits; checked for every float x in
 * [-104, 89]), lo = k*LN2_LO, r = hi - lo.
 * exp(r) = 1 + r + r^2 Q(r), Q of degree 5 fitted on |r| <= 0.35 (relative error
 * of exp(r) 2^-33), summed as 1 + (hi - (lo - r^2 Q)) so the rounding of r itself
 * never enters the big term. The result is scaled by 2^k exactly; below 2^-126 in
 * two steps, so a subnormal result is rounded once (gradual underflow). */
#define EXP_Q0 0x1p-1f
#define EXP_Q1 0x1.555554p-3f
#define EXP_Q2 0x1.5554e4p-5f
#define EXP_Q3 0x1.11130cp-7f
#define EXP_Q4 0x1.6d527cp-10f
#define EXP_Q5 0x1.9e091ep-13f

float mt_expf(float x)
{
    if (x != x)
        return x + x;                      /* NaN */
    if (x > 89.0f)                         /* exp(88.7228394) > FLT_MAX already */
        return from_bits(MT_INF_BITS);
    if (x < -104.0f)                       /* exp(x) < 2^-150: rounds to 0 */
        return 0.0f;
    const float t = x * INV_LN2;
    const int k = (int)(t < 0.0f ? t - 0.5f : t + 0.5f);   /* -150 <= k <= 128 */
    const float fk = (float)k;
    const float hi = x - fk * LN2_HI;
    const float lo = fk * LN2_LO;
    const float r = hi - lo;
    const float q = EXP_Q0 + r * (EXP_Q1 + r * (EXP_Q2 + r * (EXP_Q3 + r * (EXP_Q4 + r * EXP_Q5))));
    const float y = 1.0f + (hi - (lo - r * r * q));       /* exp(r), in [0.70, 1.42] */
    if (k > 127)
        return y * 0x1p127f * pow2i(k - 127);              /* may overflow to +inf */
    if (k < -126)
        return y * pow2i(k + 100) * 0x1p-100f;             /* exact, then one rounding */
    return y * pow2i(k);
}

/* ---- logf ----------------------------------------------------------------------
 * x = 2^e * m with m in [sqrt(2)/2, sqrt(2)) (subnormals are first scaled by 2^25),
 * f = m - 1 (exact), log(x) = e ln2 + log(1+f).
 * log(1+f) = 2 atanh(s) = 2s + s z L(z),  s = f / (2+f),  z = s^2 <= 0.0295,
 * L of degree 3 fitted on that range (relative error of log(1+f) 2^-35).
 * Written as f - hfsq + s (hfsq + z L(z)) with hfsq = f^2/2 (since 2s = f - hfsq
 * + s hfsq), so the leading term f is exact and the rounding errors only touch the
 * small corrections; e ln2 is added as e*LN2_HI (exact) and e*LN2_LO. */
#define LOG_L0 0x1.555554p-1f
#define LOG_L1 0x1.999c28p-2f
#define LOG_L2 0x1.23d312p-2f
#define LOG_L3 0x1.f161d2p-3f

float mt_logf(float x)
{
    if (x != x)
        return x + x;                                 /* NaN */
    if (x <= 0.0f)
        return x == 0.0f ? -from_bits(MT_INF_BITS)    /* log(+-0) = -inf */
                         : from_bits(MT_NAN_BITS);    /* log(x < 0) = NaN */
    uint32_t ix = to_bits(x);
    if (ix == MT_INF_BITS)
        return x;                                     /* log(+inf) = +inf */
    int e = 0;
    if (ix < 0x00800000u) {                           /* subnormal: scale by 2^25 */
        ix = to_bits(x * 0x1p25f);
        e = -25;
    }
    e += (int)(ix >> 23) - 127;
    ix &= 0x007fffffu;
    if (ix > 0x003504f3u) {                           /* mantissa above sqrt(2): m/2 */
        ix |= 0x3f000000u;
        e += 1;
    } else {
        ix |= 0x3f800000u;
    }
    const float f = from_bits(ix) - 1.0f;             /* exact (Sterbenz) */
    const float s = f / (2.0f + f);
    const float z = s * s;
    const float R = z * (LOG_L0 + z * (LOG_L1 + z * (LOG_L2 + z * LOG_L3)));
    const float hfsq = 0.5f * f * f;
    if (e == 0)
        return f - (hfsq - s * (hfsq + R));
    const float fe = (float)e;
    return fe * LN2_HI - ((hfsq - (s * (hfsq + R) + fe * LN2_LO)) - f);
}

/* ---- tanhf ---------------------------------------------------------------------
 * Odd: computed for a = |x| and the sign bit copied back, so tanh(-x) == -tanh(x)
 * exactly.
 *   a < 2^-12:   tanh(a) = a (the next term, a^3/3, is below half an ulp)
 *   a < 0.8:     tanh(a) = a + a^3 T(a^2), T of degree 6 fitted on [0, 0.8]
 *                (relative error 2^-32): no cancellation near 0
 *   a < 10:      tanh(a) = 1 - 2 / (exp(2a) + 1); exp(2a) > 4.9, so the subtracted
 *                term is < 0.34 and its relative error enters tanh scaled by <= 0.42
 *                (0.55 would be enough to avoid cancellation, but that costs
 *                1.42 ulp just above the switch; 0.8 keeps both branches ~1 ulp)
 *   otherwise:   1 (tanh(a) rounds to 1 from a = 9.01 on) */
#define TANH_T0 -0x1.555554p-2f
#define TANH_T1 0x1.111096p-3f
#define TANH_T2 -0x1.b9ff4ep-5f
#define TANH_T3 0x1.64c8f8p-6f
#define TANH_T4 -0x1.1719b2p-7f
#define TANH_T5 0x1.77075ap-9f
#define TANH_T6 -0x1.2daf34p-11f

float mt_tanhf(float x)
{
    if (x != x)
        return x + x;                                 /* NaN */
    const uint32_t ix = to_bits(x), sign = ix & 0x80000000u;
    const float a = from_bits(ix & 0x7fffffffu);
    float y;
    if (a < 0x1p-12f) {
        return x;                                     /* also +-0 and subnormals */
    } else if (a < 0.8f) {
        const float z = a * a;
        const float t = TANH_T0 + z * (TANH_T1 + z * (TANH_T2 + z * (TANH_T3 + z * (TANH_T4
                        + z * (TANH_T5 + z * TANH_T6)))));
        y = a + a * z * t;
    } else if (a < 10.0f) {
        y = 1.0f - 2.0f / (mt_expf(a + a) + 1.0f);
    } else {
        y = 1.0f;
    }
    return from_bits(to_bits(y) | sign);
}
