/* shape.c - output-size arithmetic and dims validation. */
#include "mt/mt_types.h"
#include "check.h"

int mt_dims_ok(const mt_dims *d)
{
    if (!d || d->n < 1 || d->h < 1 || d->w < 1 || d->c < 1)
        return 0;
    int64_t count = (int64_t)d->n * d->h * d->w * d->c;
    return count <= INT32_MAX;
}

int32_t mt_conv_out_size(int32_t in, int32_t kernel, int32_t stride,
                         int32_t pad_sum, int32_t dilation)
{
    if (in < 1 || kernel < 1 || stride < 1 || pad_sum < 0 || dilation < 1)
        return -1;
    int64_t span = (int64_t)dilation * (kernel - 1) + 1;   /* receptive field */
    int64_t room = (int64_t)in + pad_sum - span;
    if (room < 0)
        return -1;
    return (int32_t)(room / stride + 1);
}

int32_t mt_pool_out_size(int32_t in, int32_t kernel, int32_t stride,
                         int32_t pad_begin, int32_t pad_end, int32_t ceil_mode)
{
    if (in < 1 || kernel < 1 || stride < 1 || pad_begin < 0 || pad_end < 0)
        return -1;
    int64_t room = (int64_t)in + pad_begin + pad_end - kernel;
    if (room < 0)
        return -1;
    int64_t out = (ceil_mode ? (room + stride - 1) / stride : room / stride) + 1;
    /* PyTorch: the last window must start inside the input or the begin padding. */
    if (ceil_mode && (out - 1) * stride >= (int64_t)in + pad_begin)
        out--;
    return (int32_t)out;
}
