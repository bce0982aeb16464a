/* run_s8.c - the layer runners of int8 models (mt_layer.run, mt_model.h).
 *
 * Tensors are int8, one byte per element, at the planned arena offsets; each
 * layer's quantization (zero points, clamp, Q31 multipliers, tables) is its const
 * mt_layer_s8. All arithmetic is in the kernels of mt_s8.h; no float is used on
 * this path. One function per kernel, so the linker keeps only those a model's
 * layer table names.
 */
#include "mt/mt_s8.h"
#include "mt/mt_model.h"
#include "../support/check.h"

static const mt_dims *in_dims(const mt_model *m, const mt_layer *l)
{
    return &m->tensors[l->in].dims;
}

static const mt_dims *out_dims(const mt_model *m, const mt_layer *l)
{
    return &m->tensors[l->out].dims;
}

static const int8_t *in(const mt_model *m, const mt_layer *l, void *arena)
{
    return (const int8_t *)((char *)arena + m->tensors[l->in].offset);
}

static int8_t *out(const mt_model *m, const mt_layer *l, void *arena)
{
    return (int8_t *)((char *)arena + m->tensors[l->out].offset);
}

mt_status mt_run_conv2d_s8(const mt_model *m, const mt_layer *l, void *arena)
{
    const mt_layer_s8 *q = l->s8;
    MT_CHECK(q, MT_ERR_NULL);
    return mt_conv2d_s8(&l->conv, &q->io, &q->quant, in_dims(m, l), in(m, l, arena),
                        &l->weight_dims, q->weight, q->bias, out_dims(m, l), out(m, l, arena));
}

mt_status mt_run_linear_s8(const mt_model *m, const mt_layer *l, void *arena)
{
    const mt_layer_s8 *q = l->s8;
    MT_CHECK(q, MT_ERR_NULL);
    return mt_linear_s8(&q->io, &q->quant, in_dims(m, l), in(m, l, arena), &l->weight_dims,
                        q->weight, q->bias, out_dims(m, l), out(m, l, arena));
}

/* Pooling keeps the scale and zero point; io.act_min/act_max is its clamp. */
mt_status mt_run_maxpool2d_s8(const mt_model *m, const mt_layer *l, void *arena)
{
    MT_CHECK(l->s8, MT_ERR_NULL);
    return mt_maxpool2d_s8(&l->pool, l->s8->io.act_min, l->s8->io.act_max, in_dims(m, l),
                           in(m, l, arena), out_dims(m, l), out(m, l, arena));
}

mt_status mt_run_avgpool2d_s8(const mt_model *m, const mt_layer *l, void *arena)
{
    MT_CHECK(l->s8, MT_ERR_NULL);
    return mt_avgpool2d_s8(&l->pool, l->s8->io.act_min, l->s8->io.act_max, in_dims(m, l),
                           in(m, l, arena), out_dims(m, l), out(m, l, arena));
}

mt_status mt_run_global_avgpool_s8(const mt_model *m, const mt_layer *l, void *arena)
{
    MT_CHECK(l->s8, MT_ERR_NULL);
    return mt_global_avgpool_s8(l->s8->io.act_min, l->s8->io.act_max, in_dims(m, l),
                                in(m, l, arena), out(m, l, arena));
}

/* relu and clip: a clamp on the unchanged scale. */
mt_status mt_run_clamp_s8(const mt_model *m, const mt_layer *l, void *arena)
{
    MT_CHECK(l->s8, MT_ERR_NULL);
    return mt_clamp_s8(l->s8->io.act_min, l->s8->io.act_max, mt_dims_count(in_dims(m, l)),
                       in(m, l, arena), out(m, l, arena));
}

/* leaky_relu, sigmoid, tanh, step: any scalar function is a 256-entry table. */
mt_status mt_run_lut_s8(const mt_model *m, const mt_layer *l, void *arena)
{
    MT_CHECK(l->s8 && l->s8->table, MT_ERR_NULL);
    return mt_lut_s8(l->s8->table, mt_dims_count(in_dims(m, l)), in(m, l, arena), out(m, l, arena));
}

mt_status mt_run_softmax_s8(const mt_model *m, const mt_layer *l, void *arena)
{
    MT_CHECK(l->s8 && l->s8->exp_table, MT_ERR_NULL);
    const int32_t c = in_dims(m, l)->c;
    return mt_softmax_s8(l->s8->exp_table, mt_dims_count(in_dims(m, l)) / c, c, in(m, l, arena),
                         out(m, l, arena));
}
