/* train_f32.c - one training step over a converted schedule (see mt_train.h).
 *
 * Backward walks the layers from last to first. For layer l with input x, output
 * y and dy = dL/dy already in the arena:
 *   1. a fused clamp (conv/linear + ReLU) is undone first: dy *= [lo < y < hi];
 *   2. dx = dL/dx goes to x's gradient buffer, unless l is the first layer that
 *      trains (nothing earlier needs it) - computed before the update, with the
 *      weights the forward used;
 *   3. trainable parameters are updated block by block: the gradient of a few
 *      output channels goes to a small scratch buffer and the optimizer applies
 *      it at once, so at no point does a layer's whole dW exist.
 * Activations are differentiated from their outputs, so in-place activations
 * (y written over x) need nothing else kept. */
#include <math.h>
#include <string.h>
#include "mt/mt_f32.h"
#include "mt/mt_train.h"
#include "../support/check.h"
#include "engine.h"

static float *at(void *arena, int32_t offset)
{
    return (float *)((char *)arena + offset);
}

static float *grad_of(const mt_trainer *t, void *arena, int32_t tensor)
{
    int32_t off = t->grad_offsets[tensor];
    return off < 0 ? NULL : at(arena, off);
}

static int in_arena(const mt_model *m, int32_t offset, int64_t bytes)
{
    return offset >= 0 && (offset & 3) == 0 && offset + bytes <= m->arena_size;
}

/* The trainer's own tables, checked once per call (the model checks itself). */
static mt_status trainer_check(const mt_trainer *t)
{
    MT_CHECK(t->model && t->grad_offsets, MT_ERR_NULL);
    const mt_model *m = t->model;
    MT_CHECK(m->dtype == MT_DTYPE_F32, MT_ERR_UNSUPPORTED);   /* float training only */
    MT_CHECK(t->loss == MT_LOSS_MSE || t->loss == MT_LOSS_CROSS_ENTROPY, MT_ERR_ARG);
    MT_CHECK(t->optimizer == MT_OPTIM_SGD || t->optimizer == MT_OPTIM_ADAM, MT_ERR_ARG);
    MT_CHECK(t->first_layer >= 0 && t->first_layer < m->n_layers, MT_ERR_RANGE);
    for (int32_t i = 0; i < m->n_tensors; i++) {
        int32_t off = t->grad_offsets[i];
        MT_CHECK(off == -1 || in_arena(m, off, (int64_t)mt_dims_count(&m->tensors[i].dims) * 4),
                 MT_ERR_RANGE);
    }
    MT_CHECK(t->grad_offsets[m->output] >= 0, MT_ERR_ARG);
    const mt_dims *yd = &m->tensors[m->output].dims;
    int64_t targets = t->loss == MT_LOSS_MSE ? mt_dims_count(yd) : (int64_t)yd->n * yd->h * yd->w;
    MT_CHECK(in_arena(m, t->target_offset, targets * 4), MT_ERR_RANGE);
    MT_CHECK(t->scratch_size >= 0 && in_arena(m, t->scratch_offset, t->scratch_size), MT_ERR_RANGE);
    return MT_OK;
}

mt_status mt_train_init(const mt_trainer *t, void *arena, int32_t arena_size)
{
    MT_CHECK(t && arena, MT_ERR_NULL);
    mt_status st = trainer_check(t);
    MT_CHECK(st == MT_OK, st);
    return mt_model_init_params(t->model, arena, arena_size);
}

float *mt_train_input_f32(const mt_trainer *t, void *arena)
{
    return (t && t->model && arena) ? mt_model_input_f32(t->model, arena) : NULL;
}

void *mt_train_target(const mt_trainer *t, void *arena)
{
    return (t && arena) ? (void *)((char *)arena + t->target_offset) : NULL;
}

/* The loss of the output tensor and its gradient, which seeds backward. */
static mt_status loss_and_seed(const mt_trainer *t, void *arena, float *loss)
{
    const mt_model *m = t->model;
    const mt_dims *yd = &m->tensors[m->output].dims;
    const float *y = mt_engine_tensor(m, arena, m->output);
    float *dy = grad_of(t, arena, m->output);
    if (t->loss == MT_LOSS_CROSS_ENTROPY) {
        const int32_t *labels = (const int32_t *)((char *)arena + t->target_offset);
        return mt_cross_entropy_f32(yd->n * yd->h * yd->w, yd->c, y, labels, loss, dy);
    }
    return mt_mse_loss_f32(mt_dims_count(yd), y, at(arena, t->target_offset), loss, dy);
}

/* Apply the optimizer to elements [first, first + count) of parameter `param`. */
static mt_status apply_update(const mt_trainer *t, void *arena, int32_t param, int32_t first,
                              int32_t count, const float *grad, int32_t step)
{
    const mt_param *p = &t->model->params[param - 1];
    float *value = at(arena, p->offset) + first;
    float *s0 = p->state[0] >= 0 ? at(arena, p->state[0]) + first : NULL;
    float *s1 = p->state[1] >= 0 ? at(arena, p->state[1]) + first : NULL;
    if (t->optimizer == MT_OPTIM_SGD)
        return mt_sgd_step_f32(&t->sgd, step, count, value, grad, s0);
    return mt_adam_step_f32(&t->adam, step, count, value, grad, s0, s1);
}

/* The gradient of output channels [o0, o1) of a conv/linear layer into scratch:
 * dW rows (n x row, if the weight trains) then db (n, if the bias trains). */
static mt_status block_gradient(const mt_layer *l, const mt_dims *xd, const float *x,
                                const mt_dims *yd, const float *dy, int32_t o0, int32_t o1,
                                int32_t row, float *dw, float *db)
{
    const int32_t n = o1 - o0;
    memset(dw ? dw : db, 0, (size_t)(n * ((dw ? row : 0) + (db ? 1 : 0))) * sizeof(float));
    return l->op == MT_OP_CONV2D
        ? mt_conv2d_f32_backward_params(&l->conv, xd, x, &l->weight_dims, yd, dy, o0, o1, dw, db)
        : mt_linear_f32_backward_params(xd, x, &l->weight_dims, yd, dy, o0, o1, dw, db);
}

/* Plain SGD: no momentum, no weight decay, and parameters mt_sgd_step_f32 accepts;
 * then an update is p -= lr * g. (Anything else takes mt_sgd_step_f32's own way,
 * which also reports invalid parameters.)                                      */
static int is_plain_sgd(const mt_trainer *t)
{
    const mt_sgd_params *p = &t->sgd;
    return t->optimizer == MT_OPTIM_SGD && p->momentum == 0.0f && p->weight_decay == 0.0f &&
           !p->nesterov && isfinite(p->dampening) && p->lr >= 0.0f && isfinite(p->lr);
}

/* p -= lr * g for count elements, in one pass that also leaves the old p in g (so
 * the step can be taken back). Returns 1 if every new p is finite (their sum is:
 * a float sum is finite only if every term is), 0 otherwise. A new p is finite
 * only if its old p and g are, so on 1 the values are exactly mt_sgd_step_f32's. */
static int plain_sgd_keep_old(float lr, int32_t count, float *param, float *grad)
{
    float sum = 0.0f;
    int32_t i = 0;
    for (; i + 4 <= count; i += 4) {
        const float p0 = param[i], p1 = param[i + 1], p2 = param[i + 2], p3 = param[i + 3];
        const float q0 = p0 - lr * grad[i], q1 = p1 - lr * grad[i + 1];
        const float q2 = p2 - lr * grad[i + 2], q3 = p3 - lr * grad[i + 3];
        param[i] = q0;  param[i + 1] = q1;  param[i + 2] = q2;  param[i + 3] = q3;
        grad[i] = p0;   grad[i + 1] = p1;   grad[i + 2] = p2;   grad[i + 3] = p3;
        sum += q0;
        sum += q1;
        sum += q2;
        sum += q3;
    }
    for (; i < count; i++) {
        const float p = param[i], q = p - lr * grad[i];
        param[i] = q;
        grad[i] = p;
        sum += q;
    }
    return isfinite(sum);
}

/* 1 if dy[..., o0:o1] of an NHWC gradient with O channels and `pixels` rows of
 * them is all zero. */
static int block_all_zero(const float *dy, int32_t pixels, int32_t O, int32_t o0, int32_t o1)
{
    for (int32_t p = 0; p < pixels; p++, dy += O)
        for (int32_t o = o0; o < o1; o++)
            if (dy[o] != 0.0f)
                return 0;
    return 1;
}

/* Update a conv/linear layer's trainable weight and/or bias, a block of output
 * channels at a time: scratch holds dW rows (block x row) then db (block).
 *
 * Plain SGD (is_plain_sgd) takes a shorter way with the same results:
 *  - a block whose dy are all zero has a zero gradient, and p - lr * 0 == p, so
 *    it is skipped (checked only where dy has no more entries per channel than
 *    the channel has parameters, so the check costs less than the update; a
 *    non-finite parameter in a skipped block goes unreported, as the update would
 *    not have changed it anyway);
 *  - the update runs in one pass (plain_sgd_keep_old); if any new value is not
 *    finite the block is put back, its gradient computed again and handed to
 *    mt_sgd_step_f32, which refuses it (MT_ERR_NONFINITE) or applies it exactly. */
static mt_status update_params(const mt_trainer *t, const mt_layer *l, void *arena,
                               const mt_dims *xd, const float *x,
                               const mt_dims *yd, const float *dy, int32_t step)
{
    const mt_dims *wd = &l->weight_dims;
    const int32_t O = wd->n;
    const int32_t row = l->weight_param ? wd->h * wd->w * wd->c : 0;
    const int32_t per_channel = row + (l->bias_param ? 1 : 0);
    const int32_t block = (t->scratch_size / (int32_t)sizeof(float)) / per_channel;
    MT_CHECK(block >= 1, MT_ERR_ARENA);
    float *scratch = at(arena, t->scratch_offset);
    const int plain = is_plain_sgd(t);
    const int32_t pixels = yd->n * yd->h * yd->w;
    const int skip_zero = plain && pixels <= per_channel;

    for (int32_t o0 = 0; o0 < O; o0 += block) {
        const int32_t o1 = o0 + block < O ? o0 + block : O, n = o1 - o0;
        float *dw = l->weight_param ? scratch : NULL;
        float *db = l->bias_param ? scratch + n * row : NULL;
        if (skip_zero && block_all_zero(dy, pixels, yd->c, o0, o1))
            continue;
        mt_status st = block_gradient(l, xd, x, yd, dy, o0, o1, row, dw, db);
        if (st != MT_OK)
            return st;
        if (plain) {
            const mt_param *pw = dw ? &t->model->params[l->weight_param - 1] : NULL;
            const mt_param *pb = db ? &t->model->params[l->bias_param - 1] : NULL;
            float *w = pw ? at(arena, pw->offset) + o0 * row : NULL;
            float *b = pb ? at(arena, pb->offset) + o0 : NULL;
            const int ok_w = !dw || plain_sgd_keep_old(t->sgd.lr, n * row, w, dw);
            const int ok_b = !db || plain_sgd_keep_old(t->sgd.lr, n, b, db);
            if (ok_w && ok_b)
                continue;
            if (dw)
                memcpy(w, dw, (size_t)(n * row) * sizeof(float));   /* put back */
            if (db)
                memcpy(b, db, (size_t)n * sizeof(float));
            st = block_gradient(l, xd, x, yd, dy, o0, o1, row, dw, db);
        }
        if (st == MT_OK && dw)
            st = apply_update(t, arena, l->weight_param, o0 * row, n * row, dw, step);
        if (st == MT_OK && db)
            st = apply_update(t, arena, l->bias_param, o0, n, db, step);
        if (st != MT_OK)
            return st;
    }
    return MT_OK;
}

static int is_clamped(const mt_range_f32 *r)
{
    return r->lo > -INFINITY || r->hi < INFINITY;
}

/* dy (of l's output) -> dx (of l's input, NULL when not needed) + updates. */
static mt_status backward_layer(const mt_trainer *t, const mt_layer *l, void *arena,
                                int need_dx, int32_t step)
{
    const mt_model *m = t->model;
    const mt_dims *xd = &m->tensors[l->in].dims, *yd = &m->tensors[l->out].dims;
    const float *x = mt_engine_tensor(m, arena, l->in);
    const float *y = mt_engine_tensor(m, arena, l->out);
    float *dy = grad_of(t, arena, l->out);
    float *dx = need_dx ? grad_of(t, arena, l->in) : NULL;
    const int32_t size = mt_dims_count(yd);
    MT_CHECK(dy && (dx || !need_dx), MT_ERR_ARG);
    mt_status st = MT_OK;

    switch ((mt_op)l->op) {
    case MT_OP_CONV2D:
    case MT_OP_LINEAR:
        if (is_clamped(&l->act))
            st = mt_clip_f32_backward(&l->act, size, y, dy, dy);
        if (st == MT_OK && dx)
            st = l->op == MT_OP_CONV2D
                ? mt_conv2d_f32_backward(&l->conv, xd, x, &l->weight_dims, mt_engine_weight(m, l, arena),
                                         yd, dy, dx, NULL, NULL)
                : mt_linear_f32_backward(xd, x, &l->weight_dims, mt_engine_weight(m, l, arena),
                                         yd, dy, dx, NULL, NULL);
        if (st == MT_OK && (l->weight_param || l->bias_param))
            st = update_params(t, l, arena, xd, x, yd, dy, step);
        return st;
    case MT_OP_MAXPOOL2D:      return dx ? mt_maxpool2d_f32_backward(&l->pool, xd, x, yd, dy, dx) : MT_OK;
    case MT_OP_AVGPOOL2D:      return dx ? mt_avgpool2d_f32_backward(&l->pool, xd, yd, dy, dx) : MT_OK;
    case MT_OP_GLOBAL_AVGPOOL: return dx ? mt_global_avgpool_f32_backward(xd, dy, dx) : MT_OK;
    case MT_OP_RELU:           return dx ? mt_relu_f32_backward(size, y, dy, dx) : MT_OK;
    case MT_OP_CLIP:           return dx ? mt_clip_f32_backward(&l->act, size, y, dy, dx) : MT_OK;
    case MT_OP_LEAKY_RELU:     return dx ? mt_leaky_relu_f32_backward(l->alpha, size, y, dy, dx) : MT_OK;
    case MT_OP_SIGMOID:        return dx ? mt_sigmoid_f32_backward(size, y, dy, dx) : MT_OK;
    case MT_OP_TANH:           return dx ? mt_tanh_f32_backward(size, y, dy, dx) : MT_OK;
    case MT_OP_STEP:           return dx ? mt_step_f32_backward(size, y, dy, dx) : MT_OK;
    case MT_OP_SOFTMAX:
        return dx ? mt_softmax_f32_backward(size / yd->c, yd->c, y, dy, dx) : MT_OK;
    case MT_OP_LOG_SOFTMAX:
        return dx ? mt_log_softmax_f32_backward(size / yd->c, yd->c, y, dy, dx) : MT_OK;
    case MT_OP_CONV2D_MAXPOOL:     /* inference only: the pre-pool tensor never exists */
        break;
    }
    return MT_ERR_UNSUPPORTED;
}

mt_status mt_train_step(const mt_trainer *t, void *arena, int32_t arena_size, float *loss)
{
    MT_CHECK(t && arena && loss, MT_ERR_NULL);
    mt_status st = trainer_check(t);
    MT_CHECK(st == MT_OK, st);
    const mt_model *m = t->model;
    st = mt_model_forward(m, arena, arena_size);          /* checks arena and params */
    MT_CHECK(st == MT_OK, st);
    st = loss_and_seed(t, arena, loss);                   /* nothing updated yet */
    MT_CHECK(st == MT_OK, st);

    mt_arena_header *h = (mt_arena_header *)arena;
    const int32_t step = ++h->step;
    for (int32_t i = m->n_layers - 1; i >= t->first_layer; i--) {
        st = backward_layer(t, &m->layers[i], arena, i > t->first_layer, step);
        MT_CHECK(st == MT_OK, st);
    }
    return MT_OK;
}
