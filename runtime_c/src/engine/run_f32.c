/* run_f32.c - the layer runners of float32 models (mt_layer.run, mt_model.h).
 *
 * Each finds its layer's input and output tensors in the arena and calls one
 * kernel of mt_f32.h with the layer's fields; a trainable parameter is read from
 * its RAM copy (mt_engine_weight / mt_engine_bias). One function per op, so the
 * linker keeps only the kernels a model's layer table names.
 */
#include "mt/mt_f32.h"
#include "mt/mt_model.h"
#include "../support/check.h"
#include "engine.h"

static const mt_dims *in_dims(const mt_model *m, const mt_layer *l)
{
    return &m->tensors[l->in].dims;
}

static const mt_dims *out_dims(const mt_model *m, const mt_layer *l)
{
    return &m->tensors[l->out].dims;
}

static const float *in(const mt_model *m, const mt_layer *l, void *arena)
{
    return mt_engine_tensor(m, arena, l->in);
}

static float *out(const mt_model *m, const mt_layer *l, void *arena)
{
    return mt_engine_tensor(m, arena, l->out);
}

/* Elementwise layers: the element count of the input. */
static int32_t count(const mt_model *m, const mt_layer *l)
{
    return mt_dims_count(in_dims(m, l));
}

mt_status mt_run_conv2d_f32(const mt_model *m, const mt_layer *l, void *arena)
{
    return mt_conv2d_f32(&l->conv, &l->act, in_dims(m, l), in(m, l, arena), &l->weight_dims,
                         mt_engine_weight(m, l, arena), mt_engine_bias(m, l, arena),
                         out_dims(m, l), out(m, l, arena));
}

mt_status mt_run_linear_f32(const mt_model *m, const mt_layer *l, void *arena)
{
    return mt_linear_f32(&l->act, in_dims(m, l), in(m, l, arena), &l->weight_dims,
                         mt_engine_weight(m, l, arena), mt_engine_bias(m, l, arena),
                         out_dims(m, l), out(m, l, arena));
}

mt_status mt_run_maxpool2d_f32(const mt_model *m, const mt_layer *l, void *arena)
{
    return mt_maxpool2d_f32(&l->pool, in_dims(m, l), in(m, l, arena), out_dims(m, l), out(m, l, arena));
}

mt_status mt_run_avgpool2d_f32(const mt_model *m, const mt_layer *l, void *arena)
{
    return mt_avgpool2d_f32(&l->pool, in_dims(m, l), in(m, l, arena), out_dims(m, l), out(m, l, arena));
}

mt_status mt_run_global_avgpool_f32(const mt_model *m, const mt_layer *l, void *arena)
{
    return mt_global_avgpool_f32(in_dims(m, l), in(m, l, arena), out(m, l, arena));
}

mt_status mt_run_relu_f32(const mt_model *m, const mt_layer *l, void *arena)
{
    return mt_relu_f32(count(m, l), in(m, l, arena), out(m, l, arena));
}

mt_status mt_run_clip_f32(const mt_model *m, const mt_layer *l, void *arena)
{
    return mt_clip_f32(&l->act, count(m, l), in(m, l, arena), out(m, l, arena));
}

mt_status mt_run_leaky_relu_f32(const mt_model *m, const mt_layer *l, void *arena)
{
    return mt_leaky_relu_f32(l->alpha, count(m, l), in(m, l, arena), out(m, l, arena));
}

mt_status mt_run_sigmoid_f32(const mt_model *m, const mt_layer *l, void *arena)
{
    return mt_sigmoid_f32(count(m, l), in(m, l, arena), out(m, l, arena));
}

mt_status mt_run_tanh_f32(const mt_model *m, const mt_layer *l, void *arena)
{
    return mt_tanh_f32(count(m, l), in(m, l, arena), out(m, l, arena));
}

mt_status mt_run_step_f32(const mt_model *m, const mt_layer *l, void *arena)
{
    return mt_step_f32(count(m, l), in(m, l, arena), out(m, l, arena));
}

/* Softmax runs over the channel (last) axis: count / C rows of C. */
mt_status mt_run_softmax_f32(const mt_model *m, const mt_layer *l, void *arena)
{
    const int32_t c = in_dims(m, l)->c;
    return mt_softmax_f32(count(m, l) / c, c, in(m, l, arena), out(m, l, arena));
}

mt_status mt_run_log_softmax_f32(const mt_model *m, const mt_layer *l, void *arena)
{
    const int32_t c = in_dims(m, l)->c;
    return mt_log_softmax_f32(count(m, l) / c, c, in(m, l, arena), out(m, l, arena));
}
