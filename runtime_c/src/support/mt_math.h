/* mt_math.h - exp, log and tanh in single precision, identical bits on every target.
 *
 * Internal to the runtime (not part of the public API). libm's expf/logf/tanhf
 * differ between glibc (host) and newlib (boards) in the last place for some
 * inputs, which made float training on the host and on a board drift apart.
 * These use only IEEE float +, -, *, / and exact bit manipulation, so with
 * -ffp-contract=off every target computes the same bits (docs/design.md, Numbers).
 *
 * Max error against the exact value, measured over every float input (the method
 * and the figures are in mt_math.c; tests/test_math.py samples it):
 *   mt_expf 0.87 ulp,  mt_logf 0.84 ulp,  mt_tanhf 1.05 ulp,
 * i.e. within 1 ulp of the correctly rounded result; mt_tanhf(-x) == -mt_tanhf(x)
 * exactly.
 * Special values follow C99 Annex F: NaN in, NaN out; expf(-inf) = 0,
 * expf(+inf) = +inf, overflow to +inf, gradual underflow (subnormal results);
 * logf(+-0) = -inf, logf(x < 0) = NaN, logf(+inf) = +inf, subnormal inputs exact
 * in range; tanhf(+-inf) = +-1, tanhf(+-0) = +-0.
 */
#ifndef MT_MATH_H
#define MT_MATH_H

float mt_expf(float x);
float mt_logf(float x);
float mt_tanhf(float x);

#endif /* MT_MATH_H */
