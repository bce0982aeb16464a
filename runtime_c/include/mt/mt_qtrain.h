/* mt_qtrain.h - integer-only training of a converted model, at arena offsets.
 *
 * The converter (`pyconvert convert MODEL --train --dtype int8`) emits one const
 * mt_q_trainer: the layer chain of the model at the training batch, and where every
 * buffer lives in the caller's arena. The trainer builds an mt_q_net (mt_q.h) over
 * those offsets for each call, in the arena's last MT_QTRAIN_VIEW_BYTES(n) bytes (their
 * size depends on the pointer width), so no mutable state exists outside the arena and
 * the stack stays small. Arena layout (bytes, all offsets 4-byte aligned):
 *
 *   [ header: magic, step ][ int32 masters + momentum velocities of trainable
 *     layers ][ their int8 forward copies ][ int32 exponents: act_exp[n+1],
 *     weight_q_exp[n] ][ uint32 PRNG state ]                  <- persistent
 *   [ int8 activations (n+1) ][ 2 int8 gradient buffers ][ int32 scratch ]
 *   [ targets: int8 (MSE) or int32 labels (CE) ]              <- work
 *
 * Trainable layer: int32 master in the arena at a fixed exponent, initialised from a
 * const flash copy by mt_q_trainer_init, and its int8 forward copy (exponent at run
 * time). Frozen layer: int8 forward copy and its exponent const in flash, the bias as
 * a const int32 at a fixed exponent; never written.
 *
 *   mt_q_trainer_init(&t, arena, size);                          // once
 *   memcpy(mt_q_trainer_input(&t, arena), x_q, ...);             // int8 input at 2^e_x
 *   memcpy(mt_q_trainer_target(&t, arena), y, ...);              // int8 (MSE) / int32
 *   mt_q_trainer_step(&t, arena, size, e_x, e_t, &loss_q16);     // loss: Q16.16
 */
#ifndef MT_QTRAIN_H
#define MT_QTRAIN_H

#include <stdint.h>
#include "mt_status.h"
#include "mt_types.h"
#include "mt_q.h"
#include <stddef.h>

/* Bytes of the per-call tables (mt_q_layer[n], act pointers[n + 1], mt_q_net). */
/* (one line: the host's cffi reads these headers without their # lines) */
#define MT_QTRAIN_VIEW_BYTES(n) ((int32_t)(((size_t)(n) * sizeof(mt_q_layer) + ((size_t)(n) + 1) * sizeof(int8_t *) + sizeof(mt_q_net) + 7) & ~(size_t)7))
#define MT_QTRAIN_MAGIC 0x3151544du  /* "MTQ1" */

typedef struct {
    int32_t op;                      /* mt_q_op                                        */
    int32_t relu;                    /* linear/conv: fused ReLU                        */
    mt_conv_params conv;
    mt_pool_params pool;
    mt_dims weight_dims;             /* linear (O,1,1,K), conv (O,KH,KW,C/groups)      */
    int32_t trainable;
    const int32_t *weight_init;      /* trainable: initial int32 master (flash)        */
    const int8_t *weight_q;          /* frozen: the int8 forward copy (flash)          */
    int32_t weight_exp;              /* trainable: master exponent; frozen: copy's     */
    const int32_t *bias_init;        /* int32 bias at bias_exp (flash), or NULL        */
    int32_t bias_exp;
    /* arena bytes (trainable only, -1 = none) */
    int32_t weight_offset, bias_offset;
    int32_t weight_velocity_offset, bias_velocity_offset;
    int32_t weight_q_offset;
} mt_q_train_layer;

typedef struct {
    const mt_q_train_layer *layers;
    int32_t n_layers;
    const mt_dims *dims;             /* n_layers + 1, NHWC at the training batch       */
    const int32_t *act_offsets;      /* n_layers + 1 arena bytes of int8 activations   */
    int32_t exp_offset;              /* int32 act_exp[n_layers + 1], weight_q_exp[n]   */
    int32_t grad_offsets[2];         /* two int8 gradient buffers of grad_size bytes   */
    int32_t grad_size;
    int32_t scratch_offset;          /* int32 scratch                                  */
    int32_t scratch_size;
    int32_t target_offset;
    int32_t loss;                    /* 1: MSE (int8 targets), 2: cross-entropy (int32) */
    mt_sgd_q_params sgd;
    int32_t rng_offset;              /* uint32 xorshift32 state                        */
    uint32_t seed;                   /* non-zero                                       */
    int32_t view_offset;             /* the tables (8-aligned), after everything else  */
    int32_t arena_size;              /* view_offset + MT_QTRAIN_VIEW_BYTES(n_layers)    */
} mt_q_trainer;

/* Masters from flash, velocities zeroed, PRNG seeded, forward copies refreshed. */
mt_status mt_q_trainer_init(const mt_q_trainer *t, void *arena, int32_t arena_size);

int8_t *mt_q_trainer_input(const mt_q_trainer *t, void *arena);
void *mt_q_trainer_target(const mt_q_trainer *t, void *arena);
const int8_t *mt_q_trainer_output(const mt_q_trainer *t, const void *arena);

/* Forward of the batch in the input buffer (exponent input_exp); the output is
 * mt_q_trainer_output at 2^*output_exp. */
mt_status mt_q_trainer_forward(const mt_q_trainer *t, void *arena, int32_t arena_size,
                               int32_t input_exp, int32_t *output_exp);

/* One SGD step (mt_q_net_train_step) on the batch and targets in the arena. */
mt_status mt_q_trainer_step(const mt_q_trainer *t, void *arena, int32_t arena_size,
                            int32_t input_exp, int32_t target_exp, int32_t *loss_q16);

#endif /* MT_QTRAIN_H */
