"""Derive the polynomial coefficients of runtime_c/src/support/mt_math.c:

    python tests/fit_mt_math.py            # prints the coefficients as C hex floats

(A maintenance tool, not a test: it needs scipy and mpmath, which scikit-learn and
torch bring in.)

Each polynomial is a weighted minimax fit on a dense grid, solved exactly as a
linear program (scipy.optimize.linprog), with the target computed in 40-digit
arithmetic (mpmath). The weight makes the error the RELATIVE error of the final
function value. Coefficients are then rounded to float32 one at a time, lowest
degree first, re-fitting the remaining ones after each rounding, so the rounded
set is close to the best float32 polynomial. The printed "error" is the weighted
max error of the rounded polynomial, evaluated exactly (not in float).

  expf:  exp(r) = 1 + r + r^2 * Q(r),             r in [-0.35, 0.35]  (|r| <= ln2/2 + slack)
  logf:  log(1+f) = 2s + s * z * L(z),  s = f/(2+f), z = s^2,  z in [0, 0.02944]
         (f in [sqrt(2)/2 - 1, sqrt(2) - 1], so |s| <= (sqrt2 - 1)/(sqrt2 + 1) = 0.1716)
  tanhf: tanh(x) = x + x^3 * T(x^2),              x in [0, 0.8]
"""

from __future__ import annotations

import mpmath
import numpy as np
from scipy.optimize import linprog

mpmath.mp.dps = 40
GRID = 2001


def minimax(xs, target, weight, degree):
    """Weighted minimax polynomial sum c_j x^j (j <= degree) with float32 coefficients."""
    xs, target, weight = (np.asarray(a, np.float64) for a in (xs, target, weight))
    xmax = float(np.max(np.abs(xs)))
    fixed: list[float] = []
    for _ in range(degree + 1):
        first = len(fixed)
        known = sum(c * xs ** i for i, c in enumerate(fixed)) if fixed else 0.0
        # columns (x/xmax)^j and rows scaled so the optimum error is ~1: HiGHS's
        # tolerances are absolute (~1e-7), the errors here are ~1e-9.
        basis = np.stack([(xs / xmax) ** j for j in range(first, degree + 1)], axis=1) * weight[:, None]
        rhs = (target - known) * weight
        scale = np.max(np.abs(basis @ np.linalg.lstsq(basis, rhs, rcond=None)[0] - rhs))
        basis, rhs = basis / scale, rhs / scale
        free = basis.shape[1]
        # variables: the free coefficients, then t; minimize t with |basis c - rhs| <= t
        ones = np.ones((len(xs), 1))
        a_ub = np.vstack([np.hstack([basis, -ones]), np.hstack([-basis, -ones])])
        b_ub = np.concatenate([rhs, -rhs])
        cost = np.zeros(free + 1)
        cost[-1] = 1.0
        for method in ("highs-ds", "highs-ipm"):   # the simplex occasionally gives up
            res = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=[(None, None)] * (free + 1), method=method)
            if res.success:
                break
        else:
            raise RuntimeError(res.message)
        fixed.append(float(np.float32(res.x[0] / xmax ** first)))
    coeffs = fixed
    err = max(abs(float(w) * (sum(mpmath.mpf(c) * mpmath.mpf(float(x)) ** i for i, c in enumerate(coeffs))
                              - mpmath.mpf(float(t))))
              for x, t, w in zip(xs, target, weight))
    return coeffs, float(err)


def cheb_grid(lo, hi, n=GRID):
    k = np.arange(n)
    return (lo + hi) / 2 + (hi - lo) / 2 * np.cos(np.pi * k / (n - 1))


def fit_exp(degree=5):
    rs = cheb_grid(-0.35, 0.35)
    rs = rs[np.abs(rs) > 1e-6]
    target = [float((mpmath.exp(r) - 1 - r) / r ** 2) for r in map(mpmath.mpf, rs)]
    weight = [float(r ** 2 / mpmath.exp(r)) for r in map(mpmath.mpf, rs)]
    return minimax(rs, target, weight, degree)


def fit_log(degree=3):
    smax = (mpmath.sqrt(2) - 1) / (mpmath.sqrt(2) + 1)
    zs = cheb_grid(1e-8, float(smax ** 2))
    target, weight = [], []
    for z in map(mpmath.mpf, zs):
        s = mpmath.sqrt(z)
        target.append(float((2 * mpmath.atanh(s) - 2 * s) / (s * z)))
        weight.append(float(s * z / (2 * mpmath.atanh(s))))      # relative error of log(1+f)
    return minimax(zs, target, weight, degree)


def fit_tanh(degree=6, hi=0.8):
    xs = cheb_grid(1e-4, hi)
    target, weight = [], []
    for x in map(mpmath.mpf, xs):
        target.append(float((mpmath.tanh(x) - x) / x ** 3))
        weight.append(float(x ** 3 / mpmath.tanh(x)))
    return minimax(xs ** 2, target, weight, degree)


def c_hex(v: float) -> str:
    mantissa, exponent = float(np.float32(v)).hex().split("p")
    return f"{mantissa.rstrip('0').rstrip('.')}p{exponent}f"


if __name__ == "__main__":
    for name, fit in (("expf Q(r)", fit_exp), ("logf L(z)", fit_log), ("tanhf T(z)", fit_tanh)):
        coeffs, err = fit()
        print(f"{name}: max relative error of the approximation {err:.3g} (2^{np.log2(err):.1f})")
        for i, c in enumerate(coeffs):
            print(f"  c{i} = {c_hex(c):<20} /* {np.float32(c)!r} */")
