/* conv_pool.c - a convolution and the max-pool after it as one layer
 * (MT_OP_CONV2D_MAXPOOL), so the conv's full output never exists.
 *
 * The pooled output row py reads conv rows [py*ps, py*ps + pk) (pool kernel pk,
 * stride ps, no vertical padding: the converter fuses only such pools). For each
 * py, the engine runs the conv kernel on just those pk rows into the scratch
 * tensor (1, pk, OW, O), then the pool kernel on the scratch into row py:
 *
 *   for n, py:  band = conv(x[n], rows py*ps .. py*ps + pk - 1)   (1, pk, OW, O)
 *               y[n, py] = maxpool(band)                          (1, 1, PW, O)
 *
 * The arena holds pk conv rows instead of OH (LeNet-5 float: 1,344 B instead of
 * 18,816 B), and the results are identical to the two layers run apart: every conv
 * output is computed by the same kernel from the same inputs (only its output row
 * range differs), and the pool sees the same values. The converter fuses only when
 * the pool does not overlap (ps >= pk), so nothing is computed twice.
 *
 * A band of conv rows [r0, r0 + rows) is itself a convolution: its input is the
 * slice of input rows those outputs read, with the conv's top/bottom padding kept
 * only where the slice reaches past the image. With t = r0*sh - pt (first input
 * row read, maybe negative) and b = (r0 + rows - 1)*sh - pt + (KH - 1)*dh (last):
 *   slice rows [max(t, 0), min(b, H - 1)],  pad_top' = max(-t, 0),
 *   pad_bottom' = max(b - (H - 1), 0)
 * which gives exactly `rows` output rows (the kernel re-checks that).
 */
#include <stdint.h>
#include "mt/mt.h"
#include "../support/check.h"
#include "engine.h"

/* The input slice and padding of conv output rows [r0, r0 + rows) of one sample. */
static mt_status band_geometry(const mt_conv_params *p, const mt_dims *x, int32_t kh,
                               int32_t r0, int32_t rows, mt_conv_params *band, mt_dims *slice,
                               int32_t *first_row)
{
    const int32_t top = r0 * p->stride_h - p->pad_top;
    const int32_t bottom = (r0 + rows - 1) * p->stride_h - p->pad_top + (kh - 1) * p->dilation_h;
    *band = *p;
    band->pad_top = top < 0 ? -top : 0;
    band->pad_bottom = bottom >= x->h ? bottom - (x->h - 1) : 0;
    *first_row = top < 0 ? 0 : top;
    *slice = *x;
    slice->n = 1;
    slice->h = (bottom >= x->h ? x->h - 1 : bottom) - *first_row + 1;
    /* A band that reads only padding (a pad wider than the kernel) is not fused. */
    MT_CHECK(slice->h >= 1, MT_ERR_UNSUPPORTED);
    return MT_OK;
}

/* One band through the conv kernel, and the band through the pool kernel: per dtype,
 * so the float runner links no int8 kernel and the other way round. */
typedef mt_status (*band_conv_fn)(const mt_model *m, const mt_layer *l, void *arena,
                                  const mt_conv_params *p, const mt_dims *slice, const void *x,
                                  const mt_dims *band_dims, void *band);
typedef mt_status (*band_pool_fn)(const mt_layer *l, const mt_pool_params *p, const mt_dims *band_dims,
                                  const void *band, const mt_dims *row_dims, void *row);

static mt_status conv_band_f32(const mt_model *m, const mt_layer *l, void *arena,
                               const mt_conv_params *p, const mt_dims *slice, const void *x,
                               const mt_dims *band_dims, void *band)
{
    return mt_conv2d_f32(p, &l->act, slice, (const float *)x, &l->weight_dims,
                         mt_engine_weight(m, l, arena), mt_engine_bias(m, l, arena),
                         band_dims, (float *)band);
}

static mt_status pool_band_f32(const mt_layer *l, const mt_pool_params *p, const mt_dims *band_dims,
                               const void *band, const mt_dims *row_dims, void *row)
{
    (void)l;
    return mt_maxpool2d_f32(p, band_dims, (const float *)band, row_dims, (float *)row);
}

static mt_status conv_band_s8(const mt_model *m, const mt_layer *l, void *arena,
                              const mt_conv_params *p, const mt_dims *slice, const void *x,
                              const mt_dims *band_dims, void *band)
{
    (void)m;
    (void)arena;
    const mt_layer_s8 *q = l->s8;
    return mt_conv2d_s8(p, &q->io, &q->quant, slice, (const int8_t *)x, &l->weight_dims,
                        q->weight, q->bias, band_dims, (int8_t *)band);
}

/* The conv's clamp: the pool keeps its scale, and the converter fuses only when the
 * pool's own clamp contains the conv's (so clamping again changes nothing). */
static mt_status pool_band_s8(const mt_layer *l, const mt_pool_params *p, const mt_dims *band_dims,
                              const void *band, const mt_dims *row_dims, void *row)
{
    return mt_maxpool2d_s8(p, l->s8->io.act_min, l->s8->io.act_max, band_dims,
                           (const int8_t *)band, row_dims, (int8_t *)row);
}

static mt_status conv_maxpool(const mt_model *m, const mt_layer *l, void *arena, int32_t elem,
                              band_conv_fn conv_band, band_pool_fn pool_band)
{
    MT_CHECK(l->scratch > 0 && l->scratch <= m->n_tensors, MT_ERR_NULL);
    const mt_dims *xd = &m->tensors[l->in].dims, *yd = &m->tensors[l->out].dims;
    const mt_dims *sd = &m->tensors[l->scratch - 1].dims;
    const mt_pool_params *pool = &l->pool;
    const int32_t pk = pool->kernel_h, ps = pool->stride_h;
    /* The scratch is one band: pk rows of the conv output, (1, pk, OW, O). */
    MT_CHECK(pool->pad_top == 0 && pool->pad_bottom == 0 && ps >= pk, MT_ERR_UNSUPPORTED);
    MT_CHECK(sd->n == 1 && sd->h == pk && sd->c == yd->c && xd->n == yd->n, MT_ERR_SHAPE);

    const int32_t x_sample = xd->h * xd->w * xd->c * elem, x_row = xd->w * xd->c * elem;
    const int32_t y_sample = yd->h * yd->w * yd->c * elem, y_row = yd->w * yd->c * elem;
    const char *x = (const char *)arena + m->tensors[l->in].offset;
    char *y = (char *)arena + m->tensors[l->out].offset;
    void *band = (char *)arena + m->tensors[l->scratch - 1].offset;
    const mt_dims row_dims = {1, 1, yd->w, yd->c};    /* one pooled row per band */

    for (int32_t n = 0; n < xd->n; n++) {
        for (int32_t py = 0; py < yd->h; py++) {
            mt_conv_params bp;
            mt_dims slice;
            int32_t first;
            mt_status st = band_geometry(&l->conv, xd, l->weight_dims.h, py * ps, pk, &bp, &slice,
                                         &first);
            if (st == MT_OK)
                st = conv_band(m, l, arena, &bp, &slice, x + n * x_sample + first * x_row, sd, band);
            if (st == MT_OK)
                st = pool_band(l, pool, sd, band, &row_dims, y + n * y_sample + py * y_row);
            if (st != MT_OK)
                return st;
        }
    }
    return MT_OK;
}

mt_status mt_run_conv2d_maxpool_f32(const mt_model *m, const mt_layer *l, void *arena)
{
    return conv_maxpool(m, l, arena, (int32_t)sizeof(float), conv_band_f32, pool_band_f32);
}

mt_status mt_run_conv2d_maxpool_s8(const mt_model *m, const mt_layer *l, void *arena)
{
    MT_CHECK(l->s8, MT_ERR_NULL);
    return conv_maxpool(m, l, arena, 1, conv_band_s8, pool_band_s8);
}
