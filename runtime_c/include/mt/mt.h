/* mt.h - the umbrella header of the microtrain runtime (prefix mt_).
 *
 * A dependency-free C99 runtime that runs small neural networks on Cortex-M class
 * microcontrollers, forward and backward, so a device can fine-tune itself.
 * No malloc, no stdio, no mutable globals: the caller owns all memory.
 */
#ifndef MT_H
#define MT_H

#ifdef __cplusplus
extern "C" {
#endif

#include "mt_status.h"
#include "mt_types.h"
#include "mt_f32.h"
#include "mt_s8.h"
#include "mt_model.h"
#include "mt_train.h"
#include "mt_persist.h"
#include "mt_q.h"

#ifdef __cplusplus
}
#endif

#endif /* MT_H */
