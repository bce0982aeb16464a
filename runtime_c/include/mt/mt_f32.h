/* mt_f32.h - float32 kernels, forward and backward, each callable on its own.
 *
 * Naming: mt_<op>_f32 computes the forward pass, mt_<op>_f32_backward its
 * gradient. Argument order (as CMSIS-NN): parameters, then (dims, data) for each
 * input, outputs last. All tensors are NHWC (see mt_types.h).
 *
 * Gradient conventions, the same in every backward kernel:
 *   d_in (gradient w.r.t. a kernel's input) is OVERWRITTEN;
 *   d_filter / d_weight / d_bias (parameter gradients) are ACCUMULATED (+=),
 *   like PyTorch's .grad, so several backward calls (micro-batches) add up;
 *   the caller zeroes them before a step (zero_grad).
 * Any gradient output may be NULL: that gradient is not computed (a frozen
 * layer needs no d_weight, the first layer needs no d_in). An input that only
 * a skipped gradient needs may then be NULL too.
 *
 * Activation backward kernels take the forward OUTPUT y, not the input x, so
 * activations can run in place during training: relu/clip/leaky_relu pass the
 * gradient where lo < y < hi (exclusive, as PyTorch's relu and hardtanh),
 * sigmoid uses y(1-y), tanh 1-y^2, softmax y*(dy - sum(dy*y)),
 * log_softmax dy - exp(y)*sum(dy).
 *
 * In-place: elementwise kernels and softmax accept out == in (and d_in == d_out).
 * Other kernels require non-overlapping buffers.
 */
#ifndef MT_F32_H
#define MT_F32_H

#include <stdint.h>
#include "mt_status.h"
#include "mt_types.h"

/* ---- convolution ------------------------------------------------------------
 * y[n,oy,ox,o] = act( b[o] + sum_{ky,kx,i} x[n, oy*sh - pt + ky*dh, ox*sw - pl + kx*dw, g*Cg + i]
 *                                        * w[o, ky, kx, i] )      (g = o / (O/groups))
 * in (N,H,W,C), filter (O,KH,KW,C/groups), bias (O,) or NULL, out (N,OH,OW,O).
 * act may be NULL (identity).                                                  */
mt_status mt_conv2d_f32(const mt_conv_params *params, const mt_range_f32 *act,
                        const mt_dims *in_dims, const float *in,
                        const mt_dims *filter_dims, const float *filter,
                        const float *bias,
                        const mt_dims *out_dims, float *out);

/* Given dL/dy (pre-activation): dL/dx = sum over taps of dy * w (overwritten),
 * dL/dw[o,ky,kx,i] += sum_{n,oy,ox} dy[n,oy,ox,o] * x[n, iy, ix, g*Cg+i],
 * dL/db[o] += sum_{n,oy,ox} dy[n,oy,ox,o].                                    */
mt_status mt_conv2d_f32_backward(const mt_conv_params *params,
                                 const mt_dims *in_dims, const float *in,
                                 const mt_dims *filter_dims, const float *filter,
                                 const mt_dims *out_dims, const float *d_out,
                                 float *d_in, float *d_filter, float *d_bias);

/* The parameter gradients of output channels [o_begin, o_end) only, ACCUMULATED
 * into compact blocks d_filter (o_end-o_begin, KH, KW, C/groups) and d_bias
 * (o_end-o_begin,). On-device training updates a layer block by block with it,
 * so the layer's whole weight gradient never has to exist at once. MT_ERR_RANGE
 * unless 0 <= o_begin <= o_end <= O.                                          */
mt_status mt_conv2d_f32_backward_params(const mt_conv_params *params,
                                        const mt_dims *in_dims, const float *in,
                                        const mt_dims *filter_dims,
                                        const mt_dims *out_dims, const float *d_out,
                                        int32_t o_begin, int32_t o_end,
                                        float *d_filter, float *d_bias);

/* ---- linear ------------------------------------------------------------------
 * y (N,1,1,O) = act( x (N, K) @ W (O,K)^T + b (O,) ); x may have any (h, w, c)
 * with h*w*c == K (flatten is free in memory). bias may be NULL.               */
mt_status mt_linear_f32(const mt_range_f32 *act,
                        const mt_dims *in_dims, const float *in,
                        const mt_dims *weight_dims, const float *weight,
                        const float *bias,
                        const mt_dims *out_dims, float *out);

/* dx = dy @ W (overwritten);  dW += dy^T @ x;  db += sum_n dy.                */
mt_status mt_linear_f32_backward(const mt_dims *in_dims, const float *in,
                                 const mt_dims *weight_dims, const float *weight,
                                 const mt_dims *out_dims, const float *d_out,
                                 float *d_in, float *d_weight, float *d_bias);

/* dW rows / db entries of outputs [o_begin, o_end), accumulated into compact
 * blocks (see mt_conv2d_f32_backward_params).                                 */
mt_status mt_linear_f32_backward_params(const mt_dims *in_dims, const float *in,
                                        const mt_dims *weight_dims,
                                        const mt_dims *out_dims, const float *d_out,
                                        int32_t o_begin, int32_t o_end,
                                        float *d_weight, float *d_bias);

/* ---- pooling ----------------------------------------------------------------
 * in (N,H,W,C) -> out (N,OH,OW,C), window per mt_pool_params.                  */
mt_status mt_maxpool2d_f32(const mt_pool_params *params,
                           const mt_dims *in_dims, const float *in,
                           const mt_dims *out_dims, float *out);
/* The gradient goes to the first maximum of each window (row-major scan order,
 * as PyTorch); overlapping windows add up. Needs the forward input.            */
mt_status mt_maxpool2d_f32_backward(const mt_pool_params *params,
                                    const mt_dims *in_dims, const float *in,
                                    const mt_dims *out_dims, const float *d_out,
                                    float *d_in);
mt_status mt_avgpool2d_f32(const mt_pool_params *params,
                           const mt_dims *in_dims, const float *in,
                           const mt_dims *out_dims, float *out);
/* Each output's gradient is spread evenly over its window's taps.             */
mt_status mt_avgpool2d_f32_backward(const mt_pool_params *params,
                                    const mt_dims *in_dims,
                                    const mt_dims *out_dims, const float *d_out,
                                    float *d_in);
/* in (N,H,W,C) -> out (N,1,1,C): the mean over H and W.                        */
mt_status mt_global_avgpool_f32(const mt_dims *in_dims, const float *in, float *out);
mt_status mt_global_avgpool_f32_backward(const mt_dims *in_dims, const float *d_out,
                                         float *d_in);

/* ---- elementwise activations (size elements; in place allowed) --------------- */
mt_status mt_relu_f32(int32_t size, const float *in, float *out);
mt_status mt_relu_f32_backward(int32_t size, const float *out, const float *d_out,
                               float *d_in);
/* y = min(max(x, lo), hi): Clip / torch.clamp / hardtanh; ReLU6 is [0, 6].      */
mt_status mt_clip_f32(const mt_range_f32 *range, int32_t size, const float *in,
                      float *out);
mt_status mt_clip_f32_backward(const mt_range_f32 *range, int32_t size,
                               const float *out, const float *d_out, float *d_in);
/* y = x > 0 ? x : alpha*x, alpha >= 0 (so the sign of y tells the branch).     */
mt_status mt_leaky_relu_f32(float alpha, int32_t size, const float *in, float *out);
mt_status mt_leaky_relu_f32_backward(float alpha, int32_t size, const float *out,
                                     const float *d_out, float *d_in);
mt_status mt_sigmoid_f32(int32_t size, const float *in, float *out);
mt_status mt_sigmoid_f32_backward(int32_t size, const float *out, const float *d_out,
                                  float *d_in);
mt_status mt_tanh_f32(int32_t size, const float *in, float *out);
mt_status mt_tanh_f32_backward(int32_t size, const float *out, const float *d_out,
                               float *d_in);
/* Heaviside step: y = x > 0 ? 1 : 0 (torch.heaviside(x, values=0)). Its derivative
 * is zero almost everywhere, so backward writes zeros: a step layer passes no
 * gradient, and anything before it does not learn through it.                 */
mt_status mt_step_f32(int32_t size, const float *in, float *out);
mt_status mt_step_f32_backward(int32_t size, const float *out, const float *d_out,
                               float *d_in);

/* ---- softmax over the last axis: rows x cols, e.g. NHWC channels ------------- */
mt_status mt_softmax_f32(int32_t rows, int32_t cols, const float *in, float *out);
mt_status mt_softmax_f32_backward(int32_t rows, int32_t cols, const float *out,
                                  const float *d_out, float *d_in);
mt_status mt_log_softmax_f32(int32_t rows, int32_t cols, const float *in, float *out);
mt_status mt_log_softmax_f32_backward(int32_t rows, int32_t cols, const float *out,
                                      const float *d_out, float *d_in);

/* ---- losses: forward and the gradient that seeds backward, in one call --------
 * Mean reduction, as PyTorch's defaults. d_pred / d_logits may be NULL and are
 * overwritten. Returns MT_ERR_NONFINITE (after writing *loss) when the loss is
 * NaN or Inf, so a training loop can stop before corrupting its parameters.
 *
 * MSE: L = mean((p - t)^2) over size elements;  dL/dp = 2 (p - t) / size.      */
mt_status mt_mse_loss_f32(int32_t size, const float *pred, const float *target,
                          float *loss, float *d_pred);
/* Cross-entropy from logits (fused log-softmax + NLL), rows samples of classes:
 * L = mean_r( logsumexp(z_r) - z_r[label_r] );  dL/dz = (softmax(z) - onehot) / rows.
 * Returns MT_ERR_RANGE if a label is outside [0, classes).                    */
mt_status mt_cross_entropy_f32(int32_t rows, int32_t classes, const float *logits,
                               const int32_t *labels, float *loss, float *d_logits);

/* ---- optimizers: update size parameters in place ------------------------------
 * step counts from 1 (the first call of a run passes 1). State buffers are the
 * caller's, zero-initialised, size elements each; momentum_buf may be NULL when
 * momentum == 0.                                                              */
mt_status mt_sgd_step_f32(const mt_sgd_params *params, int32_t step, int32_t size,
                          float *param, const float *grad, float *momentum_buf);
mt_status mt_adam_step_f32(const mt_adam_params *params, int32_t step, int32_t size,
                           float *param, const float *grad, float *m, float *v);

#endif /* MT_F32_H */
