/* model_f32.c - the schedule engine: walks a converted model's layers in order.
 *
 * Every layer reads one arena tensor and writes one; the converter planned the
 * offsets so that live tensors never overlap (in-place only where the kernel
 * allows it). The engine is a dispatch loop; all arithmetic is in the kernels. */
#include <stddef.h>
#include "mt/mt_f32.h"
#include "mt/mt_model.h"
#include "../support/check.h"

static float *tensor_f32(const mt_model *m, void *arena, int32_t index)
{
    return (float *)((char *)arena + m->tensors[index].offset);
}

mt_status mt_model_check(const mt_model *m, const void *arena, int32_t arena_size)
{
    MT_CHECK(m && arena && m->layers && m->tensors, MT_ERR_NULL);
    MT_CHECK(((uintptr_t)arena & 3u) == 0, MT_ERR_ARG);
    MT_CHECK(m->n_layers >= 1 && m->n_tensors >= 1, MT_ERR_SHAPE);
    MT_CHECK(m->input >= 0 && m->input < m->n_tensors, MT_ERR_RANGE);
    MT_CHECK(m->output >= 0 && m->output < m->n_tensors, MT_ERR_RANGE);
    MT_CHECK(arena_size >= m->arena_size, MT_ERR_ARENA);
    for (int32_t i = 0; i < m->n_tensors; i++) {
        const mt_tensor *t = &m->tensors[i];
        MT_CHECK(mt_dims_ok(&t->dims), MT_ERR_SHAPE);
        MT_CHECK(t->offset >= 0 && (t->offset & 3) == 0, MT_ERR_RANGE);
        int64_t end = (int64_t)t->offset + (int64_t)mt_dims_count(&t->dims) * (int64_t)sizeof(float);
        MT_CHECK(end <= m->arena_size, MT_ERR_ARENA);
    }
    for (int32_t i = 0; i < m->n_layers; i++) {
        const mt_layer *l = &m->layers[i];
        MT_CHECK(l->in >= 0 && l->in < m->n_tensors, MT_ERR_RANGE);
        MT_CHECK(l->out >= 0 && l->out < m->n_tensors, MT_ERR_RANGE);
        MT_CHECK(l->op >= MT_OP_CONV2D && l->op <= MT_OP_LOG_SOFTMAX, MT_ERR_UNSUPPORTED);
    }
    return MT_OK;
}

float *mt_model_input_f32(const mt_model *m, void *arena)
{
    return (m && arena) ? tensor_f32(m, arena, m->input) : NULL;
}

const float *mt_model_output_f32(const mt_model *m, const void *arena)
{
    return (m && arena) ? tensor_f32(m, (void *)arena, m->output) : NULL;
}

/* One layer: x (in) -> y (out). Shapes were planned by the converter and are
 * re-validated by each kernel, so a corrupt table gives a status, not a crash. */
static mt_status run_layer(const mt_model *m, const mt_layer *l, void *arena)
{
    const mt_dims *xd = &m->tensors[l->in].dims, *yd = &m->tensors[l->out].dims;
    const float *x = tensor_f32(m, arena, l->in);
    float *y = tensor_f32(m, arena, l->out);
    int32_t size = mt_dims_count(xd);

    switch ((mt_op)l->op) {
    case MT_OP_CONV2D:
        return mt_conv2d_f32(&l->conv, &l->act, xd, x, &l->weight_dims, l->weight, l->bias, yd, y);
    case MT_OP_LINEAR:
        return mt_linear_f32(&l->act, xd, x, &l->weight_dims, l->weight, l->bias, yd, y);
    case MT_OP_MAXPOOL2D:      return mt_maxpool2d_f32(&l->pool, xd, x, yd, y);
    case MT_OP_AVGPOOL2D:      return mt_avgpool2d_f32(&l->pool, xd, x, yd, y);
    case MT_OP_GLOBAL_AVGPOOL: return mt_global_avgpool_f32(xd, x, y);
    case MT_OP_RELU:           return mt_relu_f32(size, x, y);
    case MT_OP_CLIP:           return mt_clip_f32(&l->act, size, x, y);
    case MT_OP_LEAKY_RELU:     return mt_leaky_relu_f32(l->alpha, size, x, y);
    case MT_OP_SIGMOID:        return mt_sigmoid_f32(size, x, y);
    case MT_OP_TANH:           return mt_tanh_f32(size, x, y);
    case MT_OP_STEP:           return mt_step_f32(size, x, y);
    case MT_OP_SOFTMAX:        return mt_softmax_f32(size / xd->c, xd->c, x, y);
    case MT_OP_LOG_SOFTMAX:    return mt_log_softmax_f32(size / xd->c, xd->c, x, y);
    }
    return MT_ERR_UNSUPPORTED;
}

mt_status mt_model_run_layer(const mt_model *m, void *arena, int32_t index)
{
    MT_CHECK(m && arena && m->layers, MT_ERR_NULL);
    MT_CHECK(index >= 0 && index < m->n_layers, MT_ERR_RANGE);
    return run_layer(m, &m->layers[index], arena);
}

mt_status mt_model_forward(const mt_model *m, void *arena, int32_t arena_size)
{
    mt_status st = mt_model_check(m, arena, arena_size);
    if (st != MT_OK)
        return st;
    for (int32_t i = 0; i < m->n_layers; i++) {
        st = run_layer(m, &m->layers[i], arena);
        if (st != MT_OK)
            return st;
    }
    return MT_OK;
}
