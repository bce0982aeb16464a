/* mt_train.h - on-device training: one optimizer step over the converted schedule.
 *
 * A trainer is the forward schedule at the training batch size (an mt_model whose
 * trainable layers read their weights from the arena), plus where each gradient
 * lives, the loss and the optimizer. One step:
 *
 *   forward (keeping what backward needs)  ->  loss and dL/dy  ->  for each layer,
 *   last to first: dL/dx, then the layer's parameter gradient block by block, each
 *   block applied by the optimizer at once (so no layer's whole dW ever exists).
 *
 * Backward stops at the first trainable layer: nothing before it needs a gradient.
 * Everything lives in the caller's arena, planned offline by the converter;
 * parameters and optimizer state persist between steps, the rest is reused.
 *
 *   mt_train_init(&t, arena, size);                      // params from flash
 *   memcpy(mt_train_input_f32(&t, arena), x, ...);       // a batch of inputs (NHWC)
 *   memcpy(mt_train_target(&t, arena), y, ...);          // float targets or int32 labels
 *   mt_train_step(&t, arena, size, &loss);
 */
#ifndef MT_TRAIN_H
#define MT_TRAIN_H

#include <stdint.h>
#include "mt_status.h"
#include "mt_types.h"
#include "mt_model.h"

typedef enum {
    MT_LOSS_MSE = 1,            /* targets: float, the output's shape (NHWC)          */
    MT_LOSS_CROSS_ENTROPY = 2   /* targets: int32 class labels, one per output row    */
} mt_loss;

typedef enum {
    MT_OPTIM_SGD = 1,
    MT_OPTIM_ADAM = 2
} mt_optim;

typedef struct {
    const mt_model *model;       /* forward schedule at the training batch size        */
    const int32_t *grad_offsets; /* per model tensor: arena bytes of dL/dtensor, -1: none */
    int32_t first_layer;         /* backward runs layers n_layers-1 down to this one   */
    int32_t loss;                /* mt_loss                                            */
    int32_t target_offset;       /* arena bytes of the targets / labels                */
    int32_t optimizer;           /* mt_optim                                           */
    mt_sgd_params sgd;
    mt_adam_params adam;
    int32_t scratch_offset;      /* arena bytes: one block of parameter gradients      */
    int32_t scratch_size;        /* bytes; at least one output channel's row + 1       */
} mt_trainer;

/* Parameters from flash, optimizer state and step counter zeroed. */
mt_status mt_train_init(const mt_trainer *trainer, void *arena, int32_t arena_size);

float *mt_train_input_f32(const mt_trainer *trainer, void *arena);
void *mt_train_target(const mt_trainer *trainer, void *arena);

/* One step on the batch in the arena; *loss receives the batch's mean loss.
 * A non-finite loss returns MT_ERR_NONFINITE before any parameter changes; a
 * label outside [0, classes) returns MT_ERR_RANGE, likewise untouched.        */
mt_status mt_train_step(const mt_trainer *trainer, void *arena, int32_t arena_size,
                        float *loss);

#endif /* MT_TRAIN_H */
