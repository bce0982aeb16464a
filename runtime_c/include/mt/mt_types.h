/* mt_types.h - tensor dims and layer parameters shared by all kernels.
 *
 * Layout: activations are NHWC (channels last), like CMSIS-NN and TFLM, so inner
 * loops over channels read contiguous memory. A tensor of n samples with h rows,
 * w columns and c channels is stored as x[((n*H + h)*W + w)*C + c].
 *
 * Weights:
 *   conv2d filter : OHWI = (out_channels, kernel_h, kernel_w, in_channels/groups),
 *                   described by mt_dims {n=out_c, h=kh, w=kw, c=in_c/groups}
 *   linear weight : (out_features, in_features) as in PyTorch,
 *                   described by mt_dims {n=out, h=1, w=1, c=in}
 * A vector (bias, a linear layer's input row) is a 1x1 image: {n, 1, 1, c}.
 */
#ifndef MT_TYPES_H
#define MT_TYPES_H

#include <stdint.h>

typedef struct {
    int32_t n, h, w, c;
} mt_dims;

/* Convolution geometry. Padding is given per side (ONNX style); PyTorch's
 * symmetric padding=p sets pad_top = pad_bottom = p and pad_left = pad_right = p.
 * out = floor((in + pad_begin + pad_end - dilation*(k-1) - 1) / stride) + 1. */
typedef struct {
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t dilation_h, dilation_w;
    int32_t groups;            /* in_c and out_c divisible by it; groups == in_c is depthwise */
} mt_conv_params;

/* Pooling window. Max pooling pads with -inf, average pooling with zeros.
 * ceil_mode rounds the output size up as PyTorch does (a window must start
 * inside the input or its left/top padding). count_include_pad (average only):
 * 1 divides by the window clipped to the padded input (PyTorch's default),
 * 0 divides by the taps that fall inside the real input (ONNX's default). */
typedef struct {
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t ceil_mode;
    int32_t count_include_pad;
} mt_pool_params;

/* A clamp range [lo, hi]: the fused activation of conv/linear (ReLU = [0, inf],
 * ReLU6 = [0, 6], none = [-inf, inf]) and the parameters of Clip. */
typedef struct {
    float lo, hi;
} mt_range_f32;

/* SGD exactly as torch.optim.SGD:
 *   g = grad + weight_decay * p
 *   if momentum: buf = g on the first step, else buf = momentum*buf + (1-dampening)*g
 *                g = g + momentum*buf if nesterov else buf
 *   p -= lr * g                                                               */
typedef struct {
    float lr, momentum, dampening, weight_decay;
    int32_t nesterov;
} mt_sgd_params;

/* Adam exactly as torch.optim.Adam (L2 weight decay, not AdamW):
 *   g = grad + weight_decay * p
 *   m = beta1*m + (1-beta1)*g ;  v = beta2*v + (1-beta2)*g^2
 *   p -= lr / (1-beta1^t) * m / (sqrt(v) / sqrt(1-beta2^t) + eps)           */
typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
} mt_adam_params;

/* Output size of a convolution along one axis, or -1 when the arguments are invalid
 * or the window does not fit. pad_sum = pad_begin + pad_end. */
int32_t mt_conv_out_size(int32_t in, int32_t kernel, int32_t stride,
                         int32_t pad_sum, int32_t dilation);

/* Output size of a pooling window along one axis (PyTorch rules, incl. ceil_mode),
 * or -1 when the arguments are invalid. */
int32_t mt_pool_out_size(int32_t in, int32_t kernel, int32_t stride,
                         int32_t pad_begin, int32_t pad_end, int32_t ceil_mode);

#endif /* MT_TYPES_H */
