/* model_s8.c - the int8 layers of the schedule engine (models with dtype MT_DTYPE_S8).
 *
 * The float engine (model_f32.c) checks the model and walks the schedule; for an
 * int8 model it hands every layer here. Tensors are int8, one byte per element, at
 * the planned arena offsets; each layer's quantization (zero points, clamp, Q31
 * multipliers, tables) is its const mt_layer_s8. All arithmetic is in the kernels
 * of mt_s8.h; no float is used on this path. */
#include <stddef.h>
#include "mt/mt_s8.h"
#include "mt/mt_model.h"
#include "../support/check.h"
#include "engine.h"

static int8_t *tensor_s8(const mt_model *m, void *arena, int32_t index)
{
    return (int8_t *)((char *)arena + m->tensors[index].offset);
}

int8_t *mt_model_input_s8(const mt_model *m, void *arena)
{
    return (m && arena && m->dtype == MT_DTYPE_S8) ? tensor_s8(m, arena, m->input) : NULL;
}

const int8_t *mt_model_output_s8(const mt_model *m, const void *arena)
{
    return (m && arena && m->dtype == MT_DTYPE_S8) ? tensor_s8(m, (void *)arena, m->output) : NULL;
}

/* One int8 layer: x (in) -> y (out), both int8 NHWC. Every kernel re-validates its
 * arguments, so a corrupt table gives a status, not a crash. */
mt_status mt_engine_run_layer_s8(const mt_model *m, const mt_layer *l, void *arena)
{
    const mt_layer_s8 *q = l->s8;
    MT_CHECK(q, MT_ERR_NULL);
    const mt_dims *xd = &m->tensors[l->in].dims, *yd = &m->tensors[l->out].dims;
    const int8_t *x = tensor_s8(m, arena, l->in);
    int8_t *y = tensor_s8(m, arena, l->out);
    const int32_t size = mt_dims_count(xd);
    const int32_t lo = q->io.act_min, hi = q->io.act_max;

    switch ((mt_op)l->op) {
    case MT_OP_CONV2D:
        return mt_conv2d_s8(&l->conv, &q->io, &q->quant, xd, x, &l->weight_dims, q->weight,
                            q->bias, yd, y);
    case MT_OP_LINEAR:
        return mt_linear_s8(&q->io, &q->quant, xd, x, &l->weight_dims, q->weight, q->bias, yd, y);
    case MT_OP_MAXPOOL2D:      return mt_maxpool2d_s8(&l->pool, lo, hi, xd, x, yd, y);
    case MT_OP_AVGPOOL2D:      return mt_avgpool2d_s8(&l->pool, lo, hi, xd, x, yd, y);
    case MT_OP_GLOBAL_AVGPOOL: return mt_global_avgpool_s8(lo, hi, xd, x, y);
    case MT_OP_RELU:                       /* a clamp on the unchanged scale */
    case MT_OP_CLIP:           return mt_clamp_s8(lo, hi, size, x, y);
    case MT_OP_LEAKY_RELU:                 /* any scalar function: a 256-entry table */
    case MT_OP_SIGMOID:
    case MT_OP_TANH:
    case MT_OP_STEP:
        MT_CHECK(q->table, MT_ERR_NULL);
        return mt_lut_s8(q->table, size, x, y);
    case MT_OP_SOFTMAX:
        MT_CHECK(q->exp_table, MT_ERR_NULL);
        return mt_softmax_s8(q->exp_table, size / xd->c, xd->c, x, y);
    case MT_OP_LOG_SOFTMAX:                /* no int8 kernel; the converter refuses it */
        return MT_ERR_UNSUPPORTED;
    }
    return MT_ERR_UNSUPPORTED;
}
