/* geometry.c - window checks shared by the conv and pooling kernels. */
#include "geometry.h"
#include "check.h"

mt_status mt_conv_geometry(const mt_conv_params *p, const mt_dims *in, const mt_dims *filter,
                           const mt_dims *out, mt_conv_shape *s)
{
    MT_CHECK(p->stride_h >= 1 && p->stride_w >= 1, MT_ERR_ARG);
    MT_CHECK(p->dilation_h >= 1 && p->dilation_w >= 1, MT_ERR_ARG);
    MT_CHECK(p->groups >= 1, MT_ERR_ARG);
    MT_CHECK(p->pad_top >= 0 && p->pad_left >= 0 &&
             p->pad_bottom >= 0 && p->pad_right >= 0, MT_ERR_ARG);

    MT_CHECK(mt_dims_ok(in) && mt_dims_ok(filter) && mt_dims_ok(out), MT_ERR_SHAPE);
    MT_CHECK(in->c % p->groups == 0 && filter->n % p->groups == 0, MT_ERR_SHAPE);
    MT_CHECK(filter->c == in->c / p->groups, MT_ERR_SHAPE);
    MT_CHECK(out->n == in->n && out->c == filter->n, MT_ERR_SHAPE);
    /* The padded input must be indexable in int32 (then no tap index overflows). */
    MT_CHECK((int64_t)in->h + p->pad_top + p->pad_bottom <= INT32_MAX &&
             (int64_t)in->w + p->pad_left + p->pad_right <= INT32_MAX, MT_ERR_SHAPE);
    MT_CHECK(out->h == mt_conv_out_size(in->h, filter->h, p->stride_h,
                                        p->pad_top + p->pad_bottom, p->dilation_h),
             MT_ERR_SHAPE);
    MT_CHECK(out->w == mt_conv_out_size(in->w, filter->w, p->stride_w,
                                        p->pad_left + p->pad_right, p->dilation_w),
             MT_ERR_SHAPE);

    s->N = in->n;  s->H = in->h;  s->W = in->w;  s->C = in->c;
    s->KH = filter->h;  s->KW = filter->w;  s->CG = filter->c;
    s->OH = out->h;  s->OW = out->w;  s->O = out->c;  s->OG = out->c / p->groups;
    s->sh = p->stride_h;  s->sw = p->stride_w;
    s->pt = p->pad_top;  s->pl = p->pad_left;
    s->dh = p->dilation_h;  s->dw = p->dilation_w;
    return MT_OK;
}

mt_status mt_pool_geometry(const mt_pool_params *p, const mt_dims *in, const mt_dims *out)
{
    MT_CHECK(p->kernel_h >= 1 && p->kernel_w >= 1, MT_ERR_ARG);
    MT_CHECK(p->stride_h >= 1 && p->stride_w >= 1, MT_ERR_ARG);
    MT_CHECK(p->pad_top >= 0 && p->pad_left >= 0 &&
             p->pad_bottom >= 0 && p->pad_right >= 0, MT_ERR_ARG);
    MT_CHECK(p->pad_top < p->kernel_h && p->pad_bottom < p->kernel_h &&
             p->pad_left < p->kernel_w && p->pad_right < p->kernel_w, MT_ERR_ARG);

    MT_CHECK(mt_dims_ok(in) && mt_dims_ok(out), MT_ERR_SHAPE);
    MT_CHECK(out->n == in->n && out->c == in->c, MT_ERR_SHAPE);
    /* Window bounds (up to padded size + kernel) must fit in int32. */
    MT_CHECK((int64_t)in->h + p->pad_top + p->pad_bottom + p->kernel_h <= INT32_MAX &&
             (int64_t)in->w + p->pad_left + p->pad_right + p->kernel_w <= INT32_MAX,
             MT_ERR_SHAPE);
    MT_CHECK(out->h == mt_pool_out_size(in->h, p->kernel_h, p->stride_h,
                                        p->pad_top, p->pad_bottom, p->ceil_mode),
             MT_ERR_SHAPE);
    MT_CHECK(out->w == mt_pool_out_size(in->w, p->kernel_w, p->stride_w,
                                        p->pad_left, p->pad_right, p->ceil_mode),
             MT_ERR_SHAPE);
    return MT_OK;
}

void mt_pool_window(int32_t start, int32_t kernel, int32_t size, int32_t pad_end,
                    int32_t *begin, int32_t *end, int32_t *padded)
{
    int32_t stop = start + kernel;
    if (stop > size + pad_end)
        stop = size + pad_end;
    *padded = stop - start;
    *begin = start < 0 ? 0 : start;
    *end = stop > size ? size : stop;
}

mt_status mt_linear_dims(const mt_dims *in_dims, const mt_dims *weight_dims,
                         const mt_dims *out_dims)
{
    MT_CHECK(mt_dims_ok(in_dims) && mt_dims_ok(weight_dims) && mt_dims_ok(out_dims),
             MT_ERR_SHAPE);
    MT_CHECK(weight_dims->h == 1 && weight_dims->w == 1, MT_ERR_SHAPE);
    MT_CHECK(in_dims->h * in_dims->w * in_dims->c == weight_dims->c, MT_ERR_SHAPE);
    MT_CHECK(out_dims->n == in_dims->n && out_dims->h == 1 && out_dims->w == 1 &&
             out_dims->c == weight_dims->n, MT_ERR_SHAPE);
    return MT_OK;
}
