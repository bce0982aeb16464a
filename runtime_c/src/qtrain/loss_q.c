/* loss_q.c - cross-entropy and MSE on q-tensors, without any float.
 *
 * The loss is reported as Q16.16 (real = loss_q16 / 65536) and the gradient that
 * seeds backward is a q-tensor. exp and ln are computed in base 2 on integers:
 *   e^x  = 2^(x log2 e):  integer part of the exponent -> shift, fractional part
 *          -> table of 2^(i/32) in Q30 with linear interpolation (rel. error < 6e-5);
 *   ln S = ln 2 * log2 S: bit length -> integer part, mantissa -> table of
 *          log2(1 + i/32) in Q16 with linear interpolation.
 * Both tables are written out in pyconvert/quant/qtrain_reference.py too, which
 * computes every result of this file bit for bit. */
#include "q_internal.h"

#define LOG2E_Q16 94548      /* round(log2(e) * 2^16) */
#define LN2_Q16   45426      /* round(ln(2) * 2^16)   */
#define MAX_CLASSES 1024

/* round(2^(i/32) * 2^30), i = 0..32 */
static const uint32_t POW2_Q30[33] = {
    1073741824u, 1097253708u, 1121280436u, 1145833280u, 1170923762u, 1196563654u,
    1222764986u, 1249540052u, 1276901417u, 1304861917u, 1333434672u, 1362633090u,
    1392470869u, 1422962010u, 1454120821u, 1485961921u, 1518500250u, 1551751076u,
    1585730000u, 1620452965u, 1655936265u, 1692196547u, 1729250827u, 1767116489u,
    1805811301u, 1845353420u, 1885761398u, 1927054196u, 1969251188u, 2012372174u,
    2056437387u, 2101467502u, 2147483648u};

/* round(log2(1 + i/32) * 2^16), i = 0..32 */
static const int32_t LOG2_Q16[33] = {
    0, 2909, 5732, 8473, 11136, 13727, 16248, 18704, 21098, 23433, 25711, 27936,
    30109, 32234, 34312, 36346, 38336, 40286, 42196, 44068, 45904, 47705, 49472,
    51207, 52911, 54584, 56229, 57845, 59434, 60997, 62534, 64047, 65536};

/* Linear interpolation in a 33-entry table at f / 2^16, f in [0, 2^16):
 * t[f >> 11] + round((t[next] - t[f >> 11]) * (f mod 2^11) / 2^11). */
static int64_t interp(int64_t lo, int64_t hi, int32_t f)
{
    return lo + q_round_shift((hi - lo) * (f & 2047), 11);
}

/* floor(a / b) for b > 0 (C's / truncates toward zero). */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* round(a / b), ties toward +infinity, b > 0, |a| < 2^61. */
static int64_t round_div(int64_t a, int64_t b)
{
    return floor_div(2 * a + b, 2 * b);
}

/* 2^(d * 2^e * log2 e) = e^(d * 2^e) in Q30, for d <= 0: in (0, 2^30]. */
static int64_t exp_neg_q30(int32_t d, int32_t e)
{
    /* u = d * log2(e) * 2^e in Q16; |d * LOG2E_Q16| < 2^25 */
    int64_t u = q_rescale((int64_t)d * LOG2E_Q16, -e);
    if (u < -((int64_t)40 << 16))
        u = -((int64_t)40 << 16);                      /* 2^-40: 0 in Q30 anyway */
    const int64_t ip = q_floor_shift(u, 16);            /* in [-40, 0] */
    const int32_t f = (int32_t)(u - ip * 65536);        /* in [0, 2^16) */
    const int64_t frac = interp(POW2_Q30[f >> 11], POW2_Q30[(f >> 11) + 1], f);
    return q_round_shift(frac, (int32_t)-ip);
}

/* log2(v) in Q16 for v >= 1. */
static int64_t log2_q16(uint64_t v)
{
    const int32_t b = q_bitlen64(v) - 1;
    const uint64_t m = b >= 16 ? v >> (b - 16) : v << (16 - b);  /* in [2^16, 2^17) */
    const int32_t f = (int32_t)(m - 65536);
    return (int64_t)b * 65536 + interp(LOG2_Q16[f >> 11], LOG2_Q16[(f >> 11) + 1], f);
}

/* The row's max logit and sum_j e^(z_j - z_max) in Q30 (>= 2^30). */
static int64_t row_sum(const int8_t *z, int32_t classes, int32_t e, int32_t *zmax)
{
    int32_t m = z[0];
    for (int32_t j = 1; j < classes; j++)
        if (z[j] > m)
            m = z[j];
    /* Overflow: classes <= 1024 terms of at most 2^30 -> < 2^41. */
    int64_t sum = 0;
    for (int32_t j = 0; j < classes; j++)
        sum += exp_neg_q30(z[j] - m, e);
    *zmax = m;
    return sum;
}

/* Gradient of row r, class j in units of 2^-31: round((p_j - onehot) * 2^16 / rows),
 * p_j = round(2^15 e_j / sum) in Q15. */
static int64_t ce_grad(int32_t zj, int32_t zmax, int32_t e, int64_t sum, int is_label,
                       int32_t rows)
{
    const int64_t p = (exp_neg_q30(zj - zmax, e) * 32768 + sum / 2) / sum;  /* non-negative */
    const int64_t g = p - (is_label ? 32768 : 0);                            /* |g| <= 2^15 */
    return round_div(g * 65536, rows);
}

mt_status mt_cross_entropy_q(int32_t rows, int32_t classes,
                             const int8_t *z, int32_t e,
                             const int32_t *labels,
                             int32_t *loss_q16, int8_t *dz, int32_t *dz_exp)
{
    MT_CHECK(z && labels && loss_q16 && (dz_exp || !dz), MT_ERR_NULL);
    MT_CHECK(rows >= 1 && classes >= 1 && classes <= MAX_CLASSES &&
             (int64_t)rows * classes <= INT32_MAX, MT_ERR_SHAPE);
    MT_CHECK(q_exp_ok(e), MT_ERR_RANGE);
    for (int32_t r = 0; r < rows; r++)
        MT_CHECK(labels[r] >= 0 && labels[r] < classes, MT_ERR_RANGE);

    /* Pass 1: the loss, and max |gradient| for the dynamic exponent. */
    const int64_t cap = (int64_t)1 << 60;
    int64_t total = 0;
    uint64_t max_abs = 0;
    for (int32_t r = 0; r < rows; r++) {
        const int8_t *zr = z + (int64_t)r * classes;
        int32_t zmax;
        const int64_t sum = row_sum(zr, classes, e, &zmax);
        /* ln(sum / 2^30) - (z_label - z_max) 2^e, in Q16; the second term <= 0 */
        const int64_t ln_s = q_round_shift((log2_q16((uint64_t)sum) - 30 * 65536) * LN2_Q16, 16);
        const int64_t margin = q_rescale(zr[labels[r]] - zmax, -(e + 16));
        total += ln_s - margin;                          /* each term < 2^62 - ... */
        if (total > cap)
            total = cap;                                  /* saturate: stays < 2^61 */
        if (dz)
            for (int32_t j = 0; j < classes; j++) {
                const uint64_t a = (uint64_t)q_abs64(ce_grad(zr[j], zmax, e, sum, j == labels[r], rows));
                if (a > max_abs)
                    max_abs = a;
            }
    }
    *loss_q16 = q_sat32(round_div(total, rows));
    if (!dz)
        return MT_OK;

    /* Pass 2: the same gradients, rounded to int8 at exponent -31 + s. */
    const int32_t s = q_dyn_shift(max_abs);
    for (int32_t r = 0; r < rows; r++) {
        const int8_t *zr = z + (int64_t)r * classes;
        int32_t zmax;
        const int64_t sum = row_sum(zr, classes, e, &zmax);
        for (int32_t j = 0; j < classes; j++)
            dz[(int64_t)r * classes + j] =
                q_to_s8(ce_grad(zr[j], zmax, e, sum, j == labels[r], rows), s);
    }
    *dz_exp = -31 + s;
    return MT_OK;
}

/* MSE: y and t aligned to the exponent ec = max(min(ey, et), max(ey, et) - 16), so
 * each aligned value is |q| * 2^(<= 16) < 2^23 and diff = y - t < 2^24.           */
static int32_t common_exp(int32_t ey, int32_t et)
{
    const int32_t lo = ey < et ? ey : et, hi = ey < et ? et : ey;
    return lo > hi - 16 ? lo : hi - 16;
}

/* Gradient element in units of 2^(ec + 1 - 32): round(diff * 2^32 / size), < 2^56. */
static int64_t mse_grad(int64_t diff, int32_t size)
{
    return round_div(diff * ((int64_t)1 << 32), size);
}

mt_status mt_mse_loss_q(int32_t size, const int8_t *y, int32_t ey,
                        const int8_t *t, int32_t et,
                        int32_t *loss_q16, int8_t *dy, int32_t *dy_exp)
{
    MT_CHECK(y && t && loss_q16 && (dy_exp || !dy), MT_ERR_NULL);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    MT_CHECK(q_exp_ok(ey) && q_exp_ok(et), MT_ERR_RANGE);
    const int32_t ec = common_exp(ey, et);
    const int64_t cap = (int64_t)1 << 60;
    int64_t sq = 0;
    uint64_t max_abs = 0;
    for (int32_t i = 0; i < size; i++) {
        const int64_t diff = q_rescale(y[i], ec - ey) - q_rescale(t[i], ec - et);
        /* Overflow: diff^2 < 2^48; the running sum saturates at 2^60. */
        sq += diff * diff;
        if (sq > cap)
            sq = cap;
        const uint64_t a = (uint64_t)q_abs64(mse_grad(diff, size));
        if (a > max_abs)
            max_abs = a;
    }
    /* mean in units of 2^(2 ec), rounded, then to Q16: * 2^(2 ec + 16) */
    *loss_q16 = q_sat32(q_rescale(round_div(sq, size), -(2 * ec + 16)));
    if (!dy)
        return MT_OK;
    const int32_t s = q_dyn_shift(max_abs);
    for (int32_t i = 0; i < size; i++) {
        const int64_t diff = q_rescale(y[i], ec - ey) - q_rescale(t[i], ec - et);
        dy[i] = q_to_s8(mse_grad(diff, size), s);
    }
    *dy_exp = ec + 1 - 32 + s;
    return MT_OK;
}
