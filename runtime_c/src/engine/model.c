/* model.c - the schedule engine: checks a converted model and walks its layers.
 *
 * Every layer reads one arena tensor and writes one; the converter planned the
 * offsets so that live tensors never overlap (in-place only where the kernel
 * allows it). Each layer names its runner (run_f32.c, run_s8.c, conv_pool.c),
 * which calls the kernel; this file only checks tables and calls runners, so a
 * firmware links the kernels its model uses and no others. */
#include <stddef.h>
#include <string.h>
#include "mt/mt_f32.h"
#include "mt/mt_model.h"
#include "../support/check.h"
#include "engine.h"

float *mt_engine_tensor(const mt_model *m, void *arena, int32_t index)
{
    return (float *)((char *)arena + m->tensors[index].offset);
}

float *mt_engine_param(const mt_model *m, void *arena, int32_t param)
{
    return (float *)((char *)arena + m->params[param - 1].offset);
}

const float *mt_engine_weight(const mt_model *m, const mt_layer *l, void *arena)
{
    return l->weight_param ? mt_engine_param(m, arena, l->weight_param) : l->weight;
}

const float *mt_engine_bias(const mt_model *m, const mt_layer *l, void *arena)
{
    return l->bias_param ? mt_engine_param(m, arena, l->bias_param) : l->bias;
}

int32_t mt_engine_elem_bytes(const mt_model *m)
{
    return m->dtype == MT_DTYPE_S8 ? 1 : (int32_t)sizeof(float);
}

/* [offset, offset + bytes) lies inside the plan and is 4-byte aligned. */
static int region_ok(const mt_model *m, int32_t offset, int64_t bytes)
{
    return offset >= 0 && (offset & 3) == 0 && offset + bytes <= m->arena_size;
}

mt_status mt_model_check(const mt_model *m, const void *arena, int32_t arena_size)
{
    MT_CHECK(m && arena && m->layers && m->tensors, MT_ERR_NULL);
    MT_CHECK(((uintptr_t)arena & 3u) == 0, MT_ERR_ARG);
    MT_CHECK(m->n_layers >= 1 && m->n_tensors >= 1, MT_ERR_SHAPE);
    MT_CHECK(m->input >= 0 && m->input < m->n_tensors, MT_ERR_RANGE);
    MT_CHECK(m->output >= 0 && m->output < m->n_tensors, MT_ERR_RANGE);
    MT_CHECK(m->dtype == MT_DTYPE_F32 || m->dtype == MT_DTYPE_S8, MT_ERR_ARG);
    MT_CHECK(arena_size >= m->arena_size, MT_ERR_ARENA);
    const int64_t elem = mt_engine_elem_bytes(m);
    for (int32_t i = 0; i < m->n_tensors; i++) {
        const mt_tensor *t = &m->tensors[i];
        MT_CHECK(mt_dims_ok(&t->dims), MT_ERR_SHAPE);
        MT_CHECK(region_ok(m, t->offset, (int64_t)mt_dims_count(&t->dims) * elem), MT_ERR_RANGE);
    }
    /* int8 inference only: no parameter trains in an int8 model. */
    MT_CHECK(m->dtype == MT_DTYPE_F32 || m->n_params == 0, MT_ERR_UNSUPPORTED);
    MT_CHECK(m->n_params >= 0 && (m->n_params == 0 || m->params), MT_ERR_NULL);
    for (int32_t i = 0; i < m->n_params; i++) {
        const mt_param *p = &m->params[i];
        MT_CHECK(p->init && p->size >= 1, MT_ERR_NULL);
        MT_CHECK(region_ok(m, p->offset, (int64_t)p->size * 4), MT_ERR_RANGE);
        for (int k = 0; k < 2; k++)
            MT_CHECK(p->state[k] == -1 || region_ok(m, p->state[k], (int64_t)p->size * 4), MT_ERR_RANGE);
    }
    for (int32_t i = 0; i < m->n_layers; i++) {
        const mt_layer *l = &m->layers[i];
        MT_CHECK(l->in >= 0 && l->in < m->n_tensors, MT_ERR_RANGE);
        MT_CHECK(l->out >= 0 && l->out < m->n_tensors, MT_ERR_RANGE);
        MT_CHECK(l->op >= MT_OP_CONV2D && l->op <= MT_OP_CONV2D_MAXPOOL, MT_ERR_UNSUPPORTED);
        MT_CHECK(l->scratch >= 0 && l->scratch <= m->n_tensors, MT_ERR_RANGE);
        MT_CHECK(l->op != MT_OP_CONV2D_MAXPOOL || l->scratch > 0, MT_ERR_NULL);
        MT_CHECK(l->weight_param >= 0 && l->weight_param <= m->n_params, MT_ERR_RANGE);
        MT_CHECK(l->bias_param >= 0 && l->bias_param <= m->n_params, MT_ERR_RANGE);
        MT_CHECK(l->run && (m->dtype == MT_DTYPE_F32 || l->s8), MT_ERR_NULL);
    }
    if (m->n_params > 0)
        MT_CHECK(((const mt_arena_header *)arena)->magic == MT_PARAMS_MAGIC, MT_ERR_ARG);
    return MT_OK;
}

mt_status mt_model_init_params(const mt_model *m, void *arena, int32_t arena_size)
{
    MT_CHECK(m && arena, MT_ERR_NULL);
    MT_CHECK(((uintptr_t)arena & 3u) == 0, MT_ERR_ARG);
    MT_CHECK(arena_size >= m->arena_size, MT_ERR_ARENA);
    if (m->n_params == 0)
        return MT_OK;
    MT_CHECK(m->params && m->arena_size >= (int32_t)sizeof(mt_arena_header), MT_ERR_NULL);
    for (int32_t i = 0; i < m->n_params; i++) {
        const mt_param *p = &m->params[i];
        MT_CHECK(p->init && p->size >= 1, MT_ERR_NULL);
        MT_CHECK(region_ok(m, p->offset, (int64_t)p->size * 4), MT_ERR_RANGE);
        memcpy((char *)arena + p->offset, p->init, (size_t)p->size * sizeof(float));
        for (int k = 0; k < 2; k++) {
            MT_CHECK(p->state[k] == -1 || region_ok(m, p->state[k], (int64_t)p->size * 4), MT_ERR_RANGE);
            if (p->state[k] >= 0)
                memset((char *)arena + p->state[k], 0, (size_t)p->size * sizeof(float));
        }
    }
    mt_arena_header *h = (mt_arena_header *)arena;
    h->magic = MT_PARAMS_MAGIC;
    h->step = 0;
    return MT_OK;
}

float *mt_model_input_f32(const mt_model *m, void *arena)
{
    return (m && arena && m->dtype == MT_DTYPE_F32) ? mt_engine_tensor(m, arena, m->input) : NULL;
}

const float *mt_model_output_f32(const mt_model *m, const void *arena)
{
    return (m && arena && m->dtype == MT_DTYPE_F32)
        ? mt_engine_tensor(m, (void *)arena, m->output) : NULL;
}

int8_t *mt_model_input_s8(const mt_model *m, void *arena)
{
    return (m && arena && m->dtype == MT_DTYPE_S8)
        ? (int8_t *)((char *)arena + m->tensors[m->input].offset) : NULL;
}

const int8_t *mt_model_output_s8(const mt_model *m, const void *arena)
{
    return (m && arena && m->dtype == MT_DTYPE_S8)
        ? (const int8_t *)((const char *)arena + m->tensors[m->output].offset) : NULL;
}

mt_status mt_model_run_layer(const mt_model *m, void *arena, int32_t index)
{
    MT_CHECK(m && arena && m->layers, MT_ERR_NULL);
    MT_CHECK(index >= 0 && index < m->n_layers, MT_ERR_RANGE);
    const mt_layer *l = &m->layers[index];
    MT_CHECK(l->run, MT_ERR_NULL);
    return l->run(m, l, arena);
}

mt_status mt_model_run(const mt_model *m, void *arena)
{
    MT_CHECK(m && arena && m->layers, MT_ERR_NULL);
    for (int32_t i = 0; i < m->n_layers; i++) {
        const mt_layer *l = &m->layers[i];
        MT_CHECK(l->run, MT_ERR_NULL);
        mt_status st = l->run(m, l, arena);
        if (st != MT_OK)
            return st;
    }
    return MT_OK;
}

mt_status mt_model_forward(const mt_model *m, void *arena, int32_t arena_size)
{
    mt_status st = mt_model_check(m, arena, arena_size);
    return st == MT_OK ? mt_model_run(m, arena) : st;
}
