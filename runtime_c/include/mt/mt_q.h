/* mt_q.h - integer-only training kernels: dynamic fixed point ("q-tensors").
 *
 * After NITI (Wang et al. 2022, "NITI: Training Integer Neural Networks Using
 * Integer-only Arithmetic") for the training scheme and Jacob et al. 2018
 * ("Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-
 * Only Inference") for the int8 arithmetic. No float operation anywhere in these
 * kernels; see docs/qtrain.md for the full scheme.
 *
 * q-tensor: int8 values q in [-127, 127] plus one int32 exponent e per tensor,
 *   real = q * 2^e.
 * Activations, activation gradients and the forward copy of weights are q-tensors.
 * Exponents are found at run time from the data (max |v| and its bit length):
 *   requantize(v int32/int64, exponent e) -> q = round(v / 2^s), exponent e + s,
 *   s = max(0, bitlen(max |v|) - 7),
 * rounding to nearest with ties toward +infinity (floor(v/2^s + 1/2), the rule of
 * mt_requantize) and a final clamp to [-127, 127] (rounding may reach 128).
 *
 * Master parameters (the trainable weights and biases) are int32 with a fixed
 * exponent per tensor; the forward int8 copy is mt_q_refresh_weights(master).
 *
 * Exponents passed in must lie in [-4096, 4096] (else MT_ERR_RANGE), so sums of
 * exponents never overflow. Products |q_x * q_w| <= 128 * 128 = 2^14, so an int32
 * sum of at most 2^17 - 1 of them cannot overflow: kernels whose reduction is
 * longer return MT_ERR_UNSUPPORTED.
 *
 * Layout, argument order, gradient conventions and status codes as mt_f32.h
 * (NHWC, OHWI filters, (out, in) linear weights; params, then (dims, data, exp)
 * inputs, outputs last). Outputs that need a whole-tensor maximum before they can
 * be rounded compute int32 values into a caller scratch buffer first; its size in
 * bytes is given by the ..._get_buffer_size twin.
 *
 * Determinism: every kernel is a pure function of its inputs (and of the PRNG state
 * for the update), with no implementation-defined shifts of negative numbers, so the
 * same inputs and seed give the same bits on every compiler and target.
 */
#ifndef MT_Q_H
#define MT_Q_H

#include <stdint.h>
#include "mt_status.h"
#include "mt_types.h"

/* Caller-owned scratch: buf (4-byte aligned) of size bytes. */
typedef struct {
    void *buf;
    int32_t size;
} mt_q_ctx;

/* SGD on an int32 master: master -= lr * grad, lr = lr_multiplier * 2^-lr_shift,
 * lr_multiplier in [0, 65535], lr_shift in [0, 62] (the converter turns --lr into
 * them). Optional momentum mu = momentum_multiplier * 2^-momentum_shift < 1
 * (momentum_multiplier in [0, 65535], momentum_shift in [0, 30]); 0 = none.       */
typedef struct {
    int32_t lr_multiplier;
    int32_t lr_shift;
    int32_t momentum_multiplier;
    int32_t momentum_shift;
} mt_sgd_q_params;

/* ---- helpers --------------------------------------------------------------------- */

/* xorshift32 (Marsaglia 2003: x ^= x<<13; x ^= x>>17; x ^= x<<5): advances *state
 * (never 0 for a non-zero seed) and returns the new value. */
uint32_t mt_q_rand(uint32_t *state);

/* Bit length: 0 for 0, else 1 + floor(log2 v). */
int32_t mt_q_bitlen(uint32_t v);

/* v * 2^-shift rounded to nearest, ties toward +infinity, saturated to int32.
 * shift > 0 divides, shift <= 0 multiplies (saturating). Any shift is valid. */
int32_t mt_q_shift_round(int64_t v, int32_t shift);

/* a + b saturated to int32. */
int32_t mt_q_sat_add(int32_t a, int32_t b);

/* int32 values (exponent in_exp) -> q-tensor: out = requantize(in), *out_exp = in_exp + s. */
mt_status mt_q_requantize(int32_t size, const int32_t *in, int32_t in_exp,
                          int8_t *out, int32_t *out_exp);

/* The forward int8 copy of an int32 master: the same dynamic requantization,
 * called after each update so the forward pass sees the new weights. */
mt_status mt_q_refresh_weights(int32_t size, const int32_t *master, int32_t master_exp,
                               int8_t *weight, int32_t *weight_exp);

/* ---- linear ---------------------------------------------------------------------
 * acc (N, O) = x (N, K) @ W (O, K)^T  [exponent in_exp + weight_exp]
 *            + bias (O,) aligned to that exponent (rounded, saturated);
 * relu != 0 clamps acc at 0; out = requantize(acc). bias (int32 master, exponent
 * bias_exp) may be NULL. K = h*w*c of the input; K >= 2^17 -> MT_ERR_UNSUPPORTED.
 * Scratch: N*O int32.                                                            */
int32_t mt_linear_q_get_buffer_size(const mt_dims *out_dims);
mt_status mt_linear_q(const mt_q_ctx *ctx, int32_t relu,
                      const mt_dims *in_dims, const int8_t *in, int32_t in_exp,
                      const mt_dims *weight_dims, const int8_t *weight, int32_t weight_exp,
                      const int32_t *bias, int32_t bias_exp,
                      const mt_dims *out_dims, int8_t *out, int32_t *out_exp);

/* dx (N, K) = dy (N, O) @ W (O, K), int32 then requantize (OVERWRITTEN), exponent
 * d_out_exp + weight_exp + s. O >= 2^17 -> MT_ERR_UNSUPPORTED. Scratch: N*K int32. */
int32_t mt_linear_q_backward_get_buffer_size(const mt_dims *in_dims);
mt_status mt_linear_q_backward(const mt_q_ctx *ctx,
                               const mt_dims *in_dims,
                               const mt_dims *weight_dims, const int8_t *weight, int32_t weight_exp,
                               const mt_dims *out_dims, const int8_t *d_out, int32_t d_out_exp,
                               int8_t *d_in, int32_t *d_in_exp);

/* Parameter gradients of outputs [o_begin, o_end), ACCUMULATED (saturating) into
 * compact int32 blocks: d_weight (o_end-o_begin, K) += dy^T x with exponent
 * d_out_exp + in_exp, d_bias (o_end-o_begin,) += sum_n dy with exponent d_out_exp
 * (accumulate only gradients of the same exponents). Either may be NULL.
 * N >= 2^17 -> MT_ERR_UNSUPPORTED; MT_ERR_RANGE unless 0 <= o_begin <= o_end <= O. */
mt_status mt_linear_q_backward_params(const mt_dims *in_dims, const int8_t *in,
                                      const mt_dims *weight_dims,
                                      const mt_dims *out_dims, const int8_t *d_out,
                                      int32_t o_begin, int32_t o_end,
                                      int32_t *d_weight, int32_t *d_bias);

/* ---- convolution ------------------------------------------------------------------
 * acc[n,oy,ox,o] = sum_{ky,kx,i} x[n, oy*sh - pt + ky*dh, ox*sw - pl + kx*dw, g*Cg + i]
 *                               * w[o, ky, kx, i]  (+ aligned bias, optional ReLU clamp)
 * out = requantize(acc), exponent in_exp + filter_exp + s. Padding taps add 0.
 * KH*KW*C/groups >= 2^17 -> MT_ERR_UNSUPPORTED. Scratch: N*OH*OW*O int32.        */
int32_t mt_conv2d_q_get_buffer_size(const mt_dims *out_dims);
mt_status mt_conv2d_q(const mt_q_ctx *ctx, const mt_conv_params *params, int32_t relu,
                      const mt_dims *in_dims, const int8_t *in, int32_t in_exp,
                      const mt_dims *filter_dims, const int8_t *filter, int32_t filter_exp,
                      const int32_t *bias, int32_t bias_exp,
                      const mt_dims *out_dims, int8_t *out, int32_t *out_exp);

/* dx[n,iy,ix,c] = sum of dy * w over every (o, ky, kx) whose tap reads (iy, ix, c),
 * int32 then requantize (OVERWRITTEN). (O/groups)*KH*KW >= 2^17 -> UNSUPPORTED.
 * Scratch: N*H*W*C int32.                                                          */
int32_t mt_conv2d_q_backward_get_buffer_size(const mt_dims *in_dims);
mt_status mt_conv2d_q_backward(const mt_q_ctx *ctx, const mt_conv_params *params,
                               const mt_dims *in_dims,
                               const mt_dims *filter_dims, const int8_t *filter, int32_t filter_exp,
                               const mt_dims *out_dims, const int8_t *d_out, int32_t d_out_exp,
                               int8_t *d_in, int32_t *d_in_exp);

/* d_filter (o_end-o_begin, KH, KW, C/groups) += sum_{n,oy,ox} dy * x  (exponent
 * d_out_exp + in_exp), d_bias += sum dy (exponent d_out_exp), saturating.
 * N*OH*OW >= 2^17 -> MT_ERR_UNSUPPORTED.                                        */
mt_status mt_conv2d_q_backward_params(const mt_conv_params *params,
                                      const mt_dims *in_dims, const int8_t *in,
                                      const mt_dims *filter_dims,
                                      const mt_dims *out_dims, const int8_t *d_out,
                                      int32_t o_begin, int32_t o_end,
                                      int32_t *d_filter, int32_t *d_bias);

/* ---- pooling and ReLU (the exponent is unchanged) ----------------------------------
 * Max pooling ignores padded taps. Backward routes each dy to the first maximum of
 * its window (row-major scan, as PyTorch) and needs non-overlapping windows
 * (stride >= kernel, else MT_ERR_UNSUPPORTED), so dx keeps dy's exponent.        */
mt_status mt_maxpool2d_q(const mt_pool_params *params,
                         const mt_dims *in_dims, const int8_t *in,
                         const mt_dims *out_dims, int8_t *out);
mt_status mt_maxpool2d_q_backward(const mt_pool_params *params,
                                  const mt_dims *in_dims, const int8_t *in,
                                  const mt_dims *out_dims, const int8_t *d_out,
                                  int8_t *d_in);
/* y = max(x, 0); backward from the output: dx = y > 0 ? dy : 0. In place allowed. */
mt_status mt_relu_q(int32_t size, const int8_t *in, int8_t *out);
mt_status mt_relu_q_backward(int32_t size, const int8_t *out, const int8_t *d_out,
                             int8_t *d_in);

/* ---- losses: the loss as Q16.16 and the gradient q-tensor, in one call ------------
 * Cross-entropy from int8 logits (rows samples x classes, classes <= 1024):
 *   p = softmax(z) in Q15 with an integer 2^x (table + interpolation),
 *   dL/dz = (p - onehot) / rows  -> q-tensor (d_logits, *d_logits_exp),
 *   *loss_q16 = mean_r(ln sum_j e^(z_j - z_max) - (z_label - z_max)) * 2^16.
 * d_logits may be NULL. MT_ERR_RANGE for a label outside [0, classes).           */
mt_status mt_cross_entropy_q(int32_t rows, int32_t classes,
                             const int8_t *logits, int32_t logits_exp,
                             const int32_t *labels,
                             int32_t *loss_q16, int8_t *d_logits, int32_t *d_logits_exp);

/* MSE: L = mean((y - t)^2) as Q16.16 (saturated), dL/dy = 2 (y - t) / size as a
 * q-tensor. y and t are aligned to a common exponent first (at most 16 bits apart;
 * the finer one is rounded beyond that). d_pred may be NULL.                      */
mt_status mt_mse_loss_q(int32_t size, const int8_t *pred, int32_t pred_exp,
                        const int8_t *target, int32_t target_exp,
                        int32_t *loss_q16, int8_t *d_pred, int32_t *d_pred_exp);

/* ---- optimizer --------------------------------------------------------------------
 * master[i] -= lr * grad[i] for size elements of an int32 master (exponent
 * master_exp) from an int32 gradient block (exponent grad_exp):
 *   step = multiplier * grad * 2^(grad_exp - lr_shift - master_exp)
 * rounded STOCHASTICALLY to an integer with *rng_state (xorshift32, non-zero, in the
 * caller's memory). Without momentum master = saturate_int32(master - step). With
 * momentum, velocity (size int32, zeroed before the first step, in master units) is
 *   velocity = saturate_int32(round_stochastic(mu * velocity) + step);
 *   master   = saturate_int32(master - velocity)
 * which is torch.optim.SGD's buf = mu*buf + g; p -= lr*buf for a constant lr (the
 * velocity holds lr*buf; its first step copies lr*g as torch's buf copies g).
 * velocity may be NULL when momentum_multiplier == 0.                            */
mt_status mt_sgd_update_q(const mt_sgd_q_params *params, int32_t size,
                          int32_t *master, int32_t master_exp,
                          const int32_t *grad, int32_t grad_exp,
                          int32_t *velocity, uint32_t *rng_state);

/* ---- a training engine over a chain of q-layers (train_q.c) -------------------------
 * The integer counterpart of train_f32.c for a plain chain: layer i reads activation i
 * and writes activation i+1. One step = forward, loss and its gradient, then backward
 * from the last layer to the first trainable one: fused ReLU undone from the output,
 * dx with the forward's weights (not for the first trainable layer), then the
 * parameter gradient block by block (as many output channels as the scratch holds),
 * each block applied at once by mt_sgd_update_q (weight rows, then bias), and the
 * layer's forward copy refreshed. All memory is the caller's.                        */
typedef enum {
    MT_QOP_LINEAR = 1,
    MT_QOP_CONV2D = 2,
    MT_QOP_MAXPOOL2D = 3,
    MT_QOP_RELU = 4
} mt_q_op;

typedef struct {
    int32_t op;               /* mt_q_op                                               */
    int32_t relu;             /* linear/conv: fused ReLU                               */
    mt_conv_params conv;      /* conv only                                             */
    mt_pool_params pool;      /* max pool only                                         */
    mt_dims weight_dims;      /* linear (O,1,1,K), conv (O,KH,KW,C/groups)             */
    int32_t *weight;          /* int32 master (linear/conv), in RAM                    */
    int32_t weight_exp;       /* its fixed exponent                                    */
    int32_t *bias;            /* int32 master or NULL                                  */
    int32_t bias_exp;
    int32_t *weight_velocity; /* SGD momentum state (weight count, zeroed), or NULL     */
    int32_t *bias_velocity;   /* (out channels), needed when the net has momentum       */
    int8_t *weight_q;         /* the int8 forward copy, weight count                   */
    int32_t trainable;        /* 1: SGD updates weight and bias                        */
} mt_q_layer;

typedef struct {
    const mt_q_layer *layers;
    int32_t n_layers;
    const mt_dims *dims;      /* n_layers + 1: [0] the input, [i + 1] layer i's output  */
    int8_t *const *act;       /* n_layers + 1 activation buffers (act[0]: the input)    */
    int32_t *act_exp;         /* n_layers + 1 exponents (act_exp[0] set by the caller)  */
    int32_t *weight_q_exp;    /* n_layers: exponents of the forward copies              */
    int8_t *grad[2];          /* two gradient buffers of grad_size bytes each           */
    int32_t grad_size;        /* >= the largest activation count                        */
    int32_t *scratch;         /* int32 scratch of scratch_size bytes                    */
    int32_t scratch_size;     /* >= mt_q_net_scratch_size(net)                          */
    int32_t loss;             /* 1: MSE (target: int8 q-tensor), 2: cross-entropy
                                 (target: int32 labels), as mt_loss                     */
    mt_sgd_q_params sgd;
    uint32_t *rng_state;      /* xorshift32 state, non-zero                             */
} mt_q_net;

/* The smallest scratch (bytes) the net's kernels need: the largest int32 output of a
 * forward layer or dx of a backward one, and one output channel's gradient row + 1. */
int32_t mt_q_net_scratch_size(const mt_q_net *net);

/* Every forward copy from its master (call once after loading the masters). */
mt_status mt_q_net_refresh(const mt_q_net *net);

/* Forward from act[0] / act_exp[0] to act[n_layers] / act_exp[n_layers].        */
mt_status mt_q_net_forward(const mt_q_net *net);

/* One SGD step on the batch in act[0]: *loss_q16 receives the mean loss (Q16.16).
 * target: int8 of the output's shape at 2^target_exp (MSE) or int32 labels, one per
 * output row (cross-entropy; target_exp unused). A label out of range returns
 * MT_ERR_RANGE before any parameter changes.                                       */
mt_status mt_q_net_train_step(const mt_q_net *net, const void *target, int32_t target_exp,
                              int32_t *loss_q16);

#endif /* MT_Q_H */
