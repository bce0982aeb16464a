/* q_support.c - PRNG, rounding helpers and dynamic requantization of q-tensors. */
#include "q_internal.h"

uint32_t mt_q_rand(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

int32_t mt_q_bitlen(uint32_t v)
{
    return q_bitlen64(v);
}

int32_t mt_q_shift_round(int64_t v, int32_t shift)
{
    /* clamp v to +-2^62 first so the helpers' preconditions hold; any v beyond
     * that saturates the int32 result whatever the shift (< 63) does to it */
    const int64_t lim = ((int64_t)1 << 62) - 1;
    if (v > lim)
        v = lim;
    if (v < -lim)
        v = -lim;
    return q_sat32(q_rescale(v, shift));
}

int32_t mt_q_sat_add(int32_t a, int32_t b)
{
    return q_sat32((int64_t)a + b);
}

int32_t mt_q_int32_bytes(const mt_dims *d)
{
    if (!mt_dims_ok(d))
        return -1;
    int64_t bytes = (int64_t)mt_dims_count(d) * 4;
    return bytes > INT32_MAX ? -1 : (int32_t)bytes;
}

mt_status mt_q_requantize(int32_t size, const int32_t *in, int32_t in_exp,
                          int8_t *out, int32_t *out_exp)
{
    MT_CHECK(in && out && out_exp, MT_ERR_NULL);
    MT_CHECK(size >= 1, MT_ERR_SHAPE);
    MT_CHECK(q_exp_ok(in_exp), MT_ERR_RANGE);
    uint64_t max_abs = 0;
    for (int32_t i = 0; i < size; i++) {
        uint64_t a = (uint64_t)q_abs64(in[i]);
        if (a > max_abs)
            max_abs = a;
    }
    const int32_t s = q_dyn_shift(max_abs);
    for (int32_t i = 0; i < size; i++)
        out[i] = q_to_s8(in[i], s);
    *out_exp = in_exp + s;
    return MT_OK;
}

mt_status mt_q_refresh_weights(int32_t size, const int32_t *master, int32_t master_exp,
                               int8_t *weight, int32_t *weight_exp)
{
    return mt_q_requantize(size, master, master_exp, weight, weight_exp);
}
