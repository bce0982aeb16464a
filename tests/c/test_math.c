/* test_math.c - mt_expf, mt_logf, mt_tanhf (runtime_c/src/support/mt_math.c):
 * special values, exact identities, odd symmetry, monotonicity across every
 * branch switch, and accuracy against libm in double over a strided sweep of
 * all float bit patterns (tests/test_math.py does a denser sweep). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "mt_test.h"
#include "../../runtime_c/src/support/mt_math.h"

static float from_bits(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }
static uint32_t to_bits(float f) { uint32_t u; memcpy(&u, &f, sizeof u); return u; }

/* Same value and same sign (so +0 != -0, NaN == NaN). */
static int same(float a, float b)
{
    return (isnan(a) && isnan(b)) || to_bits(a) == to_bits(b);
}

/* |y - ref| in units of the float spacing at ref (ref exact, in double). */
static double ulp_error(float y, double ref)
{
    int e;
    frexp(fabs(ref), &e);
    double ulp = ldexp(1.0, e - 24);
    if (ulp < 0x1p-149) ulp = 0x1p-149;
    return fabs((double)y - ref) / ulp;
}

static void test_special_values(void)
{
    const float inf = INFINITY, nan_ = NAN;
    /* exp */
    MT_EXPECT(isnan(mt_expf(nan_)));
    MT_EXPECT(same(mt_expf(inf), inf));
    MT_EXPECT(same(mt_expf(-inf), 0.0f));
    MT_EXPECT(same(mt_expf(0.0f), 1.0f) && same(mt_expf(-0.0f), 1.0f));
    MT_EXPECT(same(mt_expf(89.0f), inf));
    MT_EXPECT(same(mt_expf(88.8f), inf));                 /* > ln(FLT_MAX) = 88.7228 */
    MT_EXPECT(mt_expf(88.72f) < inf && mt_expf(88.72f) > 3.3e38f);
    MT_EXPECT(same(mt_expf(1000.0f), inf) && same(mt_expf(-1000.0f), 0.0f));
    MT_EXPECT(same(mt_expf(-105.0f), 0.0f));
    /* gradual underflow: subnormal results, the smallest one, then 0 */
    MT_EXPECT(mt_expf(-90.0f) > 0.0f && mt_expf(-90.0f) < FLT_MIN);
    MT_EXPECT(ulp_error(mt_expf(-90.0f), exp(-90.0)) <= 1.0);
    MT_EXPECT(same(mt_expf(-103.9f), 0x1p-149f));         /* exp(-103.9) = 1.08 * 2^-149 */
    MT_EXPECT(same(mt_expf(-104.0f), 0.0f));              /* 0.97 * 2^-150 rounds to 0 */

    /* log */
    MT_EXPECT(isnan(mt_logf(nan_)));
    MT_EXPECT(same(mt_logf(0.0f), -inf) && same(mt_logf(-0.0f), -inf));
    MT_EXPECT(isnan(mt_logf(-1.0f)) && isnan(mt_logf(-inf)) && isnan(mt_logf(-FLT_MIN)));
    MT_EXPECT(isnan(mt_logf(-0x1p-149f)));
    MT_EXPECT(same(mt_logf(inf), inf));
    MT_EXPECT(same(mt_logf(1.0f), 0.0f));                 /* +0 exactly */
    MT_EXPECT(ulp_error(mt_logf(0x1p-149f), -149.0 * log(2.0)) <= 1.0);   /* subnormals */
    MT_EXPECT(ulp_error(mt_logf(0x1.8p-140f), log(0x1.8p-140)) <= 1.0);
    MT_EXPECT(ulp_error(mt_logf(FLT_MIN), log((double)FLT_MIN)) <= 1.0);
    MT_EXPECT(ulp_error(mt_logf(FLT_MAX), log((double)FLT_MAX)) <= 1.0);
    MT_EXPECT(same(mt_logf(2.0f), 0x1.62e43p-1f));        /* ln 2 correctly rounded */

    /* tanh */
    MT_EXPECT(isnan(mt_tanhf(nan_)));
    MT_EXPECT(same(mt_tanhf(0.0f), 0.0f) && same(mt_tanhf(-0.0f), -0.0f));
    MT_EXPECT(same(mt_tanhf(inf), 1.0f) && same(mt_tanhf(-inf), -1.0f));
    MT_EXPECT(same(mt_tanhf(10.0f), 1.0f) && same(mt_tanhf(-9.5f), -1.0f));
    MT_EXPECT(mt_tanhf(9.0f) < 1.0f);                     /* 1 - 3.05e-8 rounds below 1 */
    MT_EXPECT(same(mt_tanhf(0x1p-149f), 0x1p-149f));      /* tiny: tanh(x) = x */
    MT_EXPECT(same(mt_tanhf(-1e-5f), -1e-5f));
    MT_EXPECT(same(mt_tanhf(FLT_MAX), 1.0f) && same(mt_tanhf(-FLT_MAX), -1.0f));
}

/* Odd symmetry of tanh, bit for bit, over a strided sweep of the positive floats. */
static void test_tanh_is_odd(void)
{
    int bad = 0;
    for (uint32_t b = 0; b < 0x7f800000u; b += 1009u) {
        float x = from_bits(b);
        if (to_bits(mt_tanhf(-x)) != (to_bits(mt_tanhf(x)) ^ 0x80000000u)) bad++;
    }
    MT_EXPECT(bad == 0);
}

/* Float bit patterns in value order: -FLT_MAX .. -0 (adjacent to) +0 .. +FLT_MAX. */
static uint32_t order_key(float x)
{
    uint32_t b = to_bits(x);
    return (b & 0x80000000u) ? ~b : b | 0x80000000u;
}

static float from_key(uint32_t k)
{
    return from_bits((k & 0x80000000u) ? k & 0x7fffffffu : ~k);
}

/* Non-decreasing over the 4096 floats on each side of x0. */
static int monotone_near(float (*f)(float), float x0)
{
    const uint32_t k0 = order_key(x0) - 4096u;
    float prev = f(from_key(k0));
    for (uint32_t i = 1; i <= 8192u; i++) {
        float x = from_key(k0 + i), y = f(x);
        if (y < prev) {
            fprintf(stderr, "not monotone at %a: %a < %a\n", (double)x, (double)y, (double)prev);
            return 0;
        }
        prev = y;
    }
    return 1;
}

static void test_monotone(void)
{
    /* expf: the reduction switches k at odd multiples of ln2/2; the scaling
     * switches at the subnormal and the overflow ends */
    const float exp_points[] = {0.34657359f, -0.34657359f, 1.03972077f, 10.7438f, -87.33654f,
                                -87.0f, -100.0f, -103.0f, 88.0f, 88.7f, 1e-6f, -1e-6f};
    for (size_t i = 0; i < sizeof exp_points / sizeof exp_points[0]; i++)
        MT_EXPECT(monotone_near(mt_expf, exp_points[i]));
    /* logf: the mantissa switch at sqrt(2), 1 itself, powers of two, subnormals */
    const float log_points[] = {1.41421354f, 0.70710677f, 1.0f, 2.0f, 0.5f, FLT_MIN, 1e-40f, 1e30f};
    for (size_t i = 0; i < sizeof log_points / sizeof log_points[0]; i++)
        MT_EXPECT(monotone_near(mt_logf, log_points[i]));
    /* tanhf: the branch switches at 2^-12, 0.8 and 10, on both sides of 0 */
    const float tanh_points[] = {0x1p-12f, -0x1p-12f, 0.8f, -0.8f, 9.0f, 10.0f, -10.0f, 0.5f};
    for (size_t i = 0; i < sizeof tanh_points / sizeof tanh_points[0]; i++)
        MT_EXPECT(monotone_near(mt_tanhf, tanh_points[i]));
    /* and a coarse sweep over each whole finite domain */
    int ok = 1;
    float pe = mt_expf(-FLT_MAX), pl = mt_logf(0.0f), pt = mt_tanhf(-FLT_MAX);
    for (int32_t i = -0x7f7fffff; i <= 0x7f7fffff; i += 4093) {
        float x = from_bits(i < 0 ? (uint32_t)(-i) | 0x80000000u : (uint32_t)i);
        float e = mt_expf(x), t = mt_tanhf(x);
        ok &= e >= pe && t >= pt;
        pe = e;
        pt = t;
        if (x > 0.0f) {
            float l = mt_logf(x);
            ok &= l >= pl;
            pl = l;
        }
    }
    MT_EXPECT(ok);
}

/* Within 1.05 ulp of the exact value (libm in double) on every 4099th bit pattern. */
static void test_accuracy_sweep(void)
{
    double worst[3] = {0, 0, 0};
    for (uint64_t b = 0; b < 0x100000000ull; b += 4099u) {
        float x = from_bits((uint32_t)b);
        if (isnan(x)) continue;
        float y[3] = {mt_expf(x), mt_logf(x), mt_tanhf(x)};
        double ref[3] = {exp((double)x), log((double)x), tanh((double)x)};
        for (int f = 0; f < 3; f++) {
            if (isnan(ref[f]) || isinf((float)ref[f]) || isinf(y[f])) {
                if (!same(y[f], (float)ref[f])) {
                    fprintf(stderr, "function %d at %a: %a, expected %a\n", f, (double)x,
                            (double)y[f], ref[f]);
                    worst[f] = INFINITY;
                }
                continue;
            }
            double e = ulp_error(y[f], ref[f]);
            if (e > worst[f]) worst[f] = e;
        }
    }
    printf("max ulp error on the sweep: expf %.3f, logf %.3f, tanhf %.3f\n",
           worst[0], worst[1], worst[2]);
    MT_EXPECT(worst[0] <= 0.87);
    MT_EXPECT(worst[1] <= 0.85);
    MT_EXPECT(worst[2] <= 1.05);
}

/* A few values everyone knows, and identities that hold exactly. */
static void test_values(void)
{
    MT_EXPECT(ulp_error(mt_expf(1.0f), exp(1.0)) <= 1.0);
    MT_EXPECT(ulp_error(mt_expf(-1.0f), exp(-1.0)) <= 1.0);
    MT_EXPECT(ulp_error(mt_logf(10.0f), log(10.0)) <= 1.0);
    MT_EXPECT(ulp_error(mt_tanhf(0.5f), tanh(0.5)) <= 1.0);
    MT_EXPECT(ulp_error(mt_tanhf(1.0f), tanh(1.0)) <= 1.0);
    /* exp(k ln2) for the float ln2 is 2^k within an ulp; log of a power of two is k ln2 */
    for (int k = -149; k <= 127; k++) {
        double p = ldexp(1.0, k);
        if (ulp_error(mt_logf((float)p), k * log(2.0)) > 1.0) {
            MT_EXPECT(!"log(2^k) within 1 ulp");
            break;
        }
    }
    MT_EXPECT(same(mt_logf(mt_expf(0.0f)), 0.0f));
}

int main(void)
{
    test_special_values();
    test_tanh_is_odd();
    test_monotone();
    test_accuracy_sweep();
    test_values();
    return mt_test_summary("test_math");
}
