/* engine.h - helpers shared by the inference and training engines (internal). */
#ifndef MT_ENGINE_H
#define MT_ENGINE_H

#include "mt/mt_model.h"

/* Tensor `index` of the model inside the arena. */
float *mt_engine_tensor(const mt_model *m, void *arena, int32_t index);
/* The live value of parameter `param` (1-based, as in mt_layer). */
float *mt_engine_param(const mt_model *m, void *arena, int32_t param);
/* A layer's weight / bias: the RAM copy when it trains, else the flash array. */
const float *mt_engine_weight(const mt_model *m, const mt_layer *l, void *arena);
const float *mt_engine_bias(const mt_model *m, const mt_layer *l, void *arena);
/* Bytes per activation element: 1 for an int8 model, 4 for float. */
int32_t mt_engine_elem_bytes(const mt_model *m);

#endif /* MT_ENGINE_H */
