/* train_q.c - integer-only training of a chain of q-layers (see mt_q.h).
 *
 * Layer i maps act[i] (dims[i], exponent act_exp[i]) to act[i+1]. One step:
 *   forward  ->  loss and dL/dy (a q-tensor in grad[0])  ->  for i = last .. first
 *   trainable: (fused ReLU) dy *= [y > 0];  dx = backward(dy) into the other gradient
 *   buffer (skipped for the first trainable layer);  then blocks of output channels:
 *   dW, db (int32, exponents e_dy + e_x and e_dy) into scratch, SGD on the masters
 *   with stochastic rounding, and finally the layer's forward copy is refreshed.
 * dx uses the forward's weights because the refresh comes after it. Block order and
 * the PRNG draws (weight rows, then bias, per block) make the result a pure function
 * of the masters, the batch and the seed. */
#include "q_internal.h"

#define LOSS_MSE 1
#define LOSS_CROSS_ENTROPY 2

static int has_params(const mt_q_layer *l)
{
    return l->op == MT_QOP_LINEAR || l->op == MT_QOP_CONV2D;
}

static int32_t count_of(const mt_dims *d)
{
    return mt_dims_ok(d) ? mt_dims_count(d) : -1;
}

int32_t mt_q_net_scratch_size(const mt_q_net *net)
{
    if (!net || !net->layers || !net->dims || net->n_layers < 1)
        return -1;
    int64_t words = 0;
    for (int32_t i = 0; i < net->n_layers; i++) {
        const mt_q_layer *l = &net->layers[i];
        if (!has_params(l))
            continue;
        const int64_t in = count_of(&net->dims[i]), out = count_of(&net->dims[i + 1]);
        const int64_t row = (int64_t)l->weight_dims.h * l->weight_dims.w * l->weight_dims.c + 1;
        if (in < 0 || out < 0)
            return -1;
        words = out > words ? out : words;
        words = in > words ? in : words;
        words = row > words ? row : words;
    }
    return words * 4 > INT32_MAX ? -1 : (int32_t)(words * 4);
}

/* The net's own tables, checked once per call (the kernels check shapes). */
static mt_status net_check(const mt_q_net *net)
{
    MT_CHECK(net && net->layers && net->dims && net->act && net->act_exp && net->weight_q_exp,
             MT_ERR_NULL);
    MT_CHECK(net->n_layers >= 1, MT_ERR_ARG);
    int64_t largest = 0;
    for (int32_t i = 0; i <= net->n_layers; i++) {
        MT_CHECK(net->act[i], MT_ERR_NULL);
        MT_CHECK(mt_dims_ok(&net->dims[i]), MT_ERR_SHAPE);
        if (mt_dims_count(&net->dims[i]) > largest)
            largest = mt_dims_count(&net->dims[i]);
    }
    for (int32_t i = 0; i < net->n_layers; i++) {
        const mt_q_layer *l = &net->layers[i];
        MT_CHECK(l->op >= MT_QOP_LINEAR && l->op <= MT_QOP_RELU, MT_ERR_ARG);
        if (has_params(l)) {
            /* A frozen layer may have no master: its forward copy is then given
             * (e.g. const in flash, cast; never written since it never updates). */
            MT_CHECK(l->weight_q && (l->weight || !l->trainable), MT_ERR_NULL);
            MT_CHECK(mt_dims_ok(&l->weight_dims), MT_ERR_SHAPE);
            MT_CHECK(q_exp_ok(l->weight_exp) && q_exp_ok(l->bias_exp), MT_ERR_RANGE);
        }
    }
    MT_CHECK(net->scratch && ((uintptr_t)net->scratch & 3) == 0, MT_ERR_NULL);
    const int32_t need = mt_q_net_scratch_size(net);
    MT_CHECK(need >= 0, MT_ERR_SHAPE);
    MT_CHECK(net->scratch_size >= need, MT_ERR_ARENA);
    return MT_OK;
}

static mt_status refresh_layer(const mt_q_net *net, int32_t i)
{
    const mt_q_layer *l = &net->layers[i];
    return mt_q_refresh_weights(mt_dims_count(&l->weight_dims), l->weight, l->weight_exp,
                                l->weight_q, &net->weight_q_exp[i]);
}

mt_status mt_q_net_refresh(const mt_q_net *net)
{
    mt_status st = net_check(net);
    MT_CHECK(st == MT_OK, st);
    for (int32_t i = 0; i < net->n_layers; i++)
        if (has_params(&net->layers[i]) && net->layers[i].weight) {
            st = refresh_layer(net, i);
            MT_CHECK(st == MT_OK, st);
        }
    return MT_OK;
}

static mt_status forward_layer(const mt_q_net *net, int32_t i, const mt_q_ctx *ctx)
{
    const mt_q_layer *l = &net->layers[i];
    const mt_dims *xd = &net->dims[i], *yd = &net->dims[i + 1];
    const int8_t *x = net->act[i];
    int8_t *y = net->act[i + 1];
    const int32_t ex = net->act_exp[i];
    int32_t *ey = &net->act_exp[i + 1];
    switch ((mt_q_op)l->op) {
    case MT_QOP_LINEAR:
        return mt_linear_q(ctx, l->relu, xd, x, ex, &l->weight_dims, l->weight_q,
                           net->weight_q_exp[i], l->bias, l->bias_exp, yd, y, ey);
    case MT_QOP_CONV2D:
        return mt_conv2d_q(ctx, &l->conv, l->relu, xd, x, ex, &l->weight_dims, l->weight_q,
                           net->weight_q_exp[i], l->bias, l->bias_exp, yd, y, ey);
    case MT_QOP_MAXPOOL2D:
        *ey = ex;
        return mt_maxpool2d_q(&l->pool, xd, x, yd, y);
    case MT_QOP_RELU:
        *ey = ex;
        MT_CHECK(mt_dims_count(xd) == mt_dims_count(yd), MT_ERR_SHAPE);
        return mt_relu_q(mt_dims_count(xd), x, y);
    }
    return MT_ERR_UNSUPPORTED;
}

mt_status mt_q_net_forward(const mt_q_net *net)
{
    mt_status st = net_check(net);
    MT_CHECK(st == MT_OK, st);
    const mt_q_ctx ctx = {net->scratch, net->scratch_size};
    for (int32_t i = 0; i < net->n_layers && st == MT_OK; i++)
        st = forward_layer(net, i, &ctx);
    return st;
}

/* SGD on a conv/linear layer's masters, `block` output channels at a time. */
static mt_status update_params(const mt_q_net *net, int32_t i, const int8_t *dy, int32_t edy)
{
    const mt_q_layer *l = &net->layers[i];
    const mt_dims *xd = &net->dims[i], *yd = &net->dims[i + 1], *wd = &l->weight_dims;
    const int8_t *x = net->act[i];
    const int32_t O = wd->n, row = wd->h * wd->w * wd->c;
    const int32_t per_channel = row + (l->bias ? 1 : 0);
    const int32_t block = (net->scratch_size / 4) / per_channel;
    const int momentum = net->sgd.momentum_multiplier > 0;
    MT_CHECK(block >= 1, MT_ERR_ARENA);
    /* the reduction limit of the dW kernels (the fast ones below do not check it) */
    MT_CHECK((l->op == MT_QOP_LINEAR ? (int64_t)xd->n : (int64_t)yd->n * yd->h * yd->w)
             <= Q_MAX_TERMS, MT_ERR_UNSUPPORTED);
    /* Fused update + refresh (mt_qi_sgd_update_refresh) when there is no momentum,
     * the update rounds stochastically (t < 0) and the forward copy is in sync with
     * the master at a shift s_old in [0, 25] (as mt_q_net_refresh and every step
     * leave it); else SGD, then the full refresh. */
    const int32_t eg = edy + net->act_exp[i];
    const int32_t s_old = net->weight_q_exp[i] - l->weight_exp;
    const int fused = !momentum && net->sgd.lr_shift >= 0 && net->sgd.lr_shift <= 62 &&
                      eg - net->sgd.lr_shift - l->weight_exp < 0 &&
                      s_old >= 0 && s_old <= 25 && q_exp_ok(eg) && q_exp_ok(l->weight_exp);
    uint32_t bits = 0;
    mt_status st = MT_OK;
    for (int32_t o0 = 0; o0 < O && st == MT_OK; o0 += block) {
        const int32_t o1 = o0 + block < O ? o0 + block : O, n = o1 - o0;
        int32_t *dw = net->scratch, *db = l->bias ? net->scratch + n * row : NULL;
#if defined(Q_DSP_ASM)
        if (fused && l->op == MT_QOP_LINEAR && xd->n == 1 &&
            mt_qi_sgd_linear_refresh(&net->sgd, n, row, x, dy + o0, l->weight + (int64_t)o0 * row,
                                     l->weight_exp, eg, net->rng_state,
                                     l->weight_q + (int64_t)o0 * row, s_old, &bits) == MT_OK) {
            /* batch 1: dW[o][k] = dy[o] x[k] went straight into the update; db = dy */
            if (db) {
                for (int32_t o = o0; o < o1; o++)
                    db[o - o0] = dy[o];
                st = mt_sgd_update_q(&net->sgd, n, l->bias + o0, l->bias_exp, db, edy, NULL,
                                     net->rng_state);
            }
            continue;
        }
#endif
        if (l->op == MT_QOP_LINEAR || mt_qi_conv2d_fast_ok(&l->conv)) {
            /* the fast kernels overwrite the block with the same exact sums the
             * accumulating ones add to a zeroed block (shapes checked by the forward) */
            if (l->op == MT_QOP_LINEAR)
                mt_qi_linear_dw_fast(xd, x, wd, yd, dy, o0, o1, dw, db);
            else
                mt_qi_conv2d_dw_fast(&l->conv, xd, x, wd, yd, dy, o0, o1, dw, db);
        } else {
            for (int32_t k = 0; k < n * per_channel; k++)
                net->scratch[k] = 0;
            st = l->op == MT_QOP_CONV2D
                ? mt_conv2d_q_backward_params(&l->conv, xd, x, wd, yd, dy, o0, o1, dw, db)
                : mt_linear_q_backward_params(xd, x, wd, yd, dy, o0, o1, dw, db);
        }
        if (st == MT_OK && fused) {
            /* |dW| <= N * 127^2 < 2^15 for a linear layer at batch N <= 2; conv: the
             * block's bit length (cheap next to the update) */
#if defined(Q_DSP_ASM)
            const int32_t g_bits = l->op == MT_QOP_LINEAR && xd->n <= 2
                ? 15 : q_bitlen64(mt_qi_abs_or((int64_t)n * row, dw));
#else
            const int32_t g_bits = 32;          /* only the assembly loop uses it */
#endif
            st = mt_qi_sgd_update_refresh(&net->sgd, n * row, l->weight + (int64_t)o0 * row,
                                          l->weight_exp, dw, eg, net->rng_state,
                                          l->weight_q + (int64_t)o0 * row, s_old, g_bits, &bits);
        }
        else if (st == MT_OK)
            st = mt_sgd_update_q(&net->sgd, n * row, l->weight + (int64_t)o0 * row, l->weight_exp,
                                 dw, eg, momentum ? l->weight_velocity + (int64_t)o0 * row : NULL,
                                 net->rng_state);
        if (st == MT_OK && db)
            st = mt_sgd_update_q(&net->sgd, n, l->bias + o0, l->bias_exp, db, edy,
                                 momentum ? l->bias_velocity + o0 : NULL, net->rng_state);
    }
    if (st != MT_OK)
        return st;
    if (!fused)
        return refresh_layer(net, i);
    /* The forward copy: every changed element is requantized at s_old already, and
     * the others were at s_old before. The shift is redone only if it moved: up iff
     * a changed master left [-(2^(s_old+7) - 1), 2^(s_old+7) - 1]; down iff no
     * master at all is >= 2^(s_old+6) in magnitude (bit length s_old + 7), which
     * a scan of the masters that stops at the first such one settles. The assembly
     * loops (DSP cores) report no |master|, only bit 31 when a changed master left
     * that range or a copy they wrote may be off (it rounded to +-128): then the
     * shift and the whole copy are redone; without it they leave the scan to decide. */
    const int32_t count = O * row;
    int32_t s_new = s_old;
    int redo = 0;
    if ((bits & 0x80000000u) != 0 || q_dyn_shift(bits) > s_old) {
        s_new = q_dyn_shift(mt_qi_abs_or(count, l->weight));
        redo = 1;               /* bit 31: some changed copy may be off (q_internal.h) */
    } else if (s_old > 0 && q_dyn_shift(bits) < s_old &&
               !mt_qi_any_abs_ge(count, l->weight, s_old + 6)) {
        s_new = q_dyn_shift(mt_qi_abs_or(count, l->weight));
    }
    if (redo || s_new != s_old)
        mt_qi_requantize_s8(count, l->weight, s_new, l->weight_q);
    net->weight_q_exp[i] = l->weight_exp + s_new;
    return MT_OK;
}

/* dy (gradient of act[i+1]) -> dx (of act[i], when need_dx) + the layer's update.
 * dy may be modified in place (the fused ReLU's mask). */
static mt_status backward_layer(const mt_q_net *net, int32_t i, int8_t *dy, int32_t edy,
                                int8_t *dx, int32_t *edx, int need_dx)
{
    const mt_q_layer *l = &net->layers[i];
    const mt_dims *xd = &net->dims[i], *yd = &net->dims[i + 1];
    const mt_q_ctx ctx = {net->scratch, net->scratch_size};
    const int8_t *y = net->act[i + 1];
    mt_status st = MT_OK;
    *edx = edy;
    switch ((mt_q_op)l->op) {
    case MT_QOP_LINEAR:
    case MT_QOP_CONV2D:
        if (l->relu)
            st = mt_relu_q_backward(mt_dims_count(yd), y, dy, dy);
        if (st == MT_OK && need_dx)
            st = l->op == MT_QOP_CONV2D
                ? mt_conv2d_q_backward(&ctx, &l->conv, xd, &l->weight_dims, l->weight_q,
                                       net->weight_q_exp[i], yd, dy, edy, dx, edx)
                : mt_linear_q_backward(&ctx, xd, &l->weight_dims, l->weight_q,
                                       net->weight_q_exp[i], yd, dy, edy, dx, edx);
        if (st == MT_OK && l->trainable)
            st = update_params(net, i, dy, edy);
        return st;
    case MT_QOP_MAXPOOL2D:
        return need_dx ? mt_maxpool2d_q_backward(&l->pool, xd, net->act[i], yd, dy, dx) : MT_OK;
    case MT_QOP_RELU:
        return need_dx ? mt_relu_q_backward(mt_dims_count(yd), y, dy, dx) : MT_OK;
    }
    return MT_ERR_UNSUPPORTED;
}

mt_status mt_q_net_train_step(const mt_q_net *net, const void *target, int32_t target_exp,
                              int32_t *loss_q16)
{
    MT_CHECK(net && target && loss_q16, MT_ERR_NULL);
    mt_status st = net_check(net);
    MT_CHECK(st == MT_OK, st);
    MT_CHECK(net->grad[0] && net->grad[1] && net->rng_state, MT_ERR_NULL);
    for (int32_t i = 0; i < net->n_layers; i++) {
        const mt_q_layer *l = &net->layers[i];
        if (has_params(l) && l->trainable && net->sgd.momentum_multiplier > 0)
            MT_CHECK(l->weight_velocity && (l->bias_velocity || !l->bias), MT_ERR_NULL);
    }
    MT_CHECK(net->loss == LOSS_MSE || net->loss == LOSS_CROSS_ENTROPY, MT_ERR_ARG);
    int32_t first = -1;
    for (int32_t i = 0; i < net->n_layers && first < 0; i++)
        if (has_params(&net->layers[i]) && net->layers[i].trainable)
            first = i;
    MT_CHECK(first >= 0, MT_ERR_ARG);
    for (int32_t i = first; i <= net->n_layers; i++)
        MT_CHECK(mt_dims_count(&net->dims[i]) <= net->grad_size, MT_ERR_ARENA);

    st = mt_q_net_forward(net);
    MT_CHECK(st == MT_OK, st);
    const int32_t L = net->n_layers;
    const mt_dims *yd = &net->dims[L];
    int32_t edy;
    st = net->loss == LOSS_MSE
        ? mt_mse_loss_q(mt_dims_count(yd), net->act[L], net->act_exp[L], (const int8_t *)target,
                        target_exp, loss_q16, net->grad[0], &edy)
        : mt_cross_entropy_q(yd->n * yd->h * yd->w, yd->c, net->act[L], net->act_exp[L],
                             (const int32_t *)target, loss_q16, net->grad[0], &edy);
    MT_CHECK(st == MT_OK, st);                  /* nothing updated yet */

    int cur = 0;
    for (int32_t i = L - 1; i >= first; i--) {
        int32_t edx;
        st = backward_layer(net, i, net->grad[cur], edy, net->grad[1 - cur], &edx, i > first);
        MT_CHECK(st == MT_OK, st);
        cur = 1 - cur;
        edy = edx;
    }
    return MT_OK;
}
