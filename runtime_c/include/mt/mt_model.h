/* mt_model.h - a converted model: a constant layer schedule over a planned arena.
 *
 * The converter (pyconvert) emits one `mt_model` per network as pure data: const
 * weight arrays, a const table of layers in execution order, and a table of
 * activation tensors, each at a fixed byte offset in one arena planned offline.
 * The engine walks the layers and calls the kernels of mt_f32.h (float models) or
 * mt_s8.h (int8 models, `dtype = MT_DTYPE_S8`); it allocates nothing and keeps no
 * state outside the caller's arena.
 *
 *   static float arena[LENET5_ARENA_SIZE / sizeof(float)];
 *   mt_status st = mt_model_check(&lenet5_model, arena, sizeof arena);   // once
 *   float *x = mt_model_input_f32(&lenet5_model, arena);   // write the input here
 *   st = mt_model_forward(&lenet5_model, arena, sizeof arena);
 *   const float *y = mt_model_output_f32(&lenet5_model, arena);
 *
 * An int8 model is the same schedule with int8 tensors (1 byte per element in the
 * arena); mt_model_input_s8 / mt_model_output_s8 give its int8 input and output
 * (quantize with the scale and zero point the generated header defines).
 */
#ifndef MT_MODEL_H
#define MT_MODEL_H

#include <stdint.h>
#include "mt_status.h"
#include "mt_types.h"
#include "mt_s8.h"

typedef enum {
    MT_OP_CONV2D = 1,        /* weight OHWI, bias, conv, act                 */
    MT_OP_LINEAR = 2,        /* weight (O,K), bias, act                       */
    MT_OP_MAXPOOL2D = 3,     /* pool                                          */
    MT_OP_AVGPOOL2D = 4,     /* pool                                          */
    MT_OP_GLOBAL_AVGPOOL = 5,
    MT_OP_RELU = 6,
    MT_OP_CLIP = 7,          /* act = [lo, hi]                                */
    MT_OP_LEAKY_RELU = 8,    /* alpha                                         */
    MT_OP_SIGMOID = 9,
    MT_OP_TANH = 10,
    MT_OP_STEP = 11,
    MT_OP_SOFTMAX = 12,      /* over the channel (last) axis                  */
    MT_OP_LOG_SOFTMAX = 13,
    MT_OP_CONV2D_MAXPOOL = 14 /* conv (conv, act) then max-pool (pool), fused:
                                 the conv output exists only as pool.kernel_h
                                 rows in the scratch tensor (inference only)   */
} mt_op;

/* The element type of a model's activation tensors. 0 (a zero-initialised field)
 * is float32, so every float model emitted before int8 existed stays valid. */
typedef enum {
    MT_DTYPE_F32 = 0,        /* float32 tensors, kernels of mt_f32.h          */
    MT_DTYPE_S8 = 1          /* int8 tensors, kernels of mt_s8.h (inference)  */
} mt_dtype;

/* The int8 side of one layer of an int8 model (mt_s8.h conventions); one const
 * struct per layer, pointed to by mt_layer.s8 (NULL in float models). Fields an op
 * does not use are zero / NULL:
 *   conv2d, linear  io, quant (per output channel), weight, bias (or NULL)
 *   pooling         io.act_min / io.act_max (scale and zero point are kept)
 *   relu, clip      io.act_min / io.act_max: the clamp on the unchanged scale
 *   sigmoid, tanh, leaky_relu, step   table: mt_lut_s8's 256 entries
 *   softmax         exp_table: mt_softmax_s8's 256 entries (output 1/256, -128) */
typedef struct {
    mt_s8_io io;               /* zero points and the output clamp            */
    mt_requant quant;          /* Q31 multiplier and shift per output channel */
    const int8_t *weight;      /* conv OHWI or linear (O,K), symmetric int8   */
    const int32_t *bias;       /* (O,) int32 at scale s_in * s_w[o], or NULL  */
    const int8_t *table;       /* 256 entries, y = table[x + 128]             */
    const int32_t *exp_table;  /* 256 entries, Q23 exp(-d * s_in)             */
} mt_layer_s8;

/* An activation tensor: NHWC dims at a byte offset into the arena. */
typedef struct {
    mt_dims dims;
    int32_t offset;
} mt_tensor;

/* A trainable parameter: its value lives in the arena (RAM), initialised from
 * flash by mt_model_init_params; frozen weights stay in flash (mt_layer.weight).
 * Optimizer state sits beside it: SGD momentum in state[0], Adam m and v in
 * state[0] and state[1]; -1 where unused. Offsets are arena bytes. */
typedef struct {
    const float *init;         /* the converted value, in flash               */
    int32_t size;              /* elements                                    */
    int32_t offset;            /* the live value                              */
    int32_t state[2];
} mt_param;

typedef struct mt_model mt_model;
typedef struct mt_layer mt_layer;

/* A layer runner: runs one layer of a model on the arena. There is one per op and
 * dtype (listed below); the converter names each layer's runner (mt_layer.run), so
 * a firmware links the kernels its model calls and no others. */
typedef mt_status (*mt_layer_fn)(const mt_model *model, const mt_layer *layer, void *arena);

/* One step of the schedule; fields an op does not use are zero / NULL. */
struct mt_layer {
    int32_t op;                /* mt_op                                       */
    int32_t in, out;           /* indices into mt_model.tensors               */
    const float *weight;       /* conv OHWI or linear (O,K), in flash         */
    const float *bias;         /* (O,) or NULL                                */
    int32_t weight_param;      /* 1 + index into mt_model.params when the     */
    int32_t bias_param;        /*   value trains in RAM; 0 = use the pointer  */
    mt_dims weight_dims;
    mt_conv_params conv;
    mt_pool_params pool;
    mt_range_f32 act;          /* fused clamp of conv/linear; range of clip   */
    float alpha;               /* leaky_relu slope                            */
    const mt_layer_s8 *s8;     /* int8 models: the layer's int8 parameters    */
    int32_t scratch;           /* 1 + tensor index of a working buffer (the   */
                               /*   fused conv's band of rows); 0 = none      */
    mt_layer_fn run;           /* the runner for op and dtype (see below)     */
};

struct mt_model {
    int32_t n_layers;
    const mt_layer *layers;
    int32_t n_tensors;
    const mt_tensor *tensors;
    int32_t input, output;     /* tensor indices                              */
    int32_t arena_size;        /* bytes the plan needs                        */
    int32_t n_params;          /* trainable parameters (0 for a frozen model) */
    const mt_param *params;
    int32_t dtype;             /* mt_dtype: 0 = float32 (default), 1 = int8   */
};

/* A model with trainable parameters keeps this header at arena offset 0, written
 * by mt_model_init_params; forward refuses an arena without it (the parameters
 * would be garbage). */
typedef struct {
    uint32_t magic;            /* MT_PARAMS_MAGIC once initialised            */
    int32_t step;              /* optimizer steps taken so far                */
} mt_arena_header;
#define MT_PARAMS_MAGIC 0x6D745031u   /* "mtP1" */

/* Validate the whole model against an arena once: table indices, every tensor
 * inside arena_size (4 bytes per element for float, 1 for int8), arena 4-byte
 * aligned, every layer with its runner and, in an int8 model, its mt_layer_s8
 * (MT_ERR_NULL), and no trainable parameters in an int8 model
 * (MT_ERR_UNSUPPORTED). MT_ERR_ARENA if it is too small. */
mt_status mt_model_check(const mt_model *model, const void *arena, int32_t arena_size);

/* Copy every trainable parameter from flash into the arena and zero its optimizer
 * state and the step counter (a fresh start; a no-op for frozen models). */
mt_status mt_model_init_params(const mt_model *model, void *arena, int32_t arena_size);

/* Where the input is written and the output read: pointers into the arena.
 * The _f32 accessors return NULL for an int8 model and the _s8 ones for a float
 * model, so a type mix-up is a NULL, not a misread buffer. */
float *mt_model_input_f32(const mt_model *model, void *arena);
const float *mt_model_output_f32(const mt_model *model, const void *arena);
int8_t *mt_model_input_s8(const mt_model *model, void *arena);
const int8_t *mt_model_output_s8(const mt_model *model, const void *arena);

/* Run every layer in order (after the caller wrote the input into the arena):
 * mt_model_check, then mt_model_run. */
mt_status mt_model_forward(const mt_model *model, void *arena, int32_t arena_size);

/* Run every layer in order without checking the tables again: for a caller that
 * already had mt_model_check pass for this arena (the generated <name>_forward). */
mt_status mt_model_run(const mt_model *model, void *arena);

/* The layer runners (mt_layer.run). Each reads its layer's fields, finds the
 * tensors in the arena and calls the kernel of mt_f32.h / mt_s8.h, which validates
 * the shapes again, so a corrupt table gives a status, not a crash.
 * float32 models:                                                            */
mt_status mt_run_conv2d_f32(const mt_model *model, const mt_layer *layer, void *arena);
mt_status mt_run_conv2d_maxpool_f32(const mt_model *model, const mt_layer *layer, void *arena);
mt_status mt_run_linear_f32(const mt_model *model, const mt_layer *layer, void *arena);
mt_status mt_run_maxpool2d_f32(const mt_model *model, const mt_layer *layer, void *arena);
mt_status mt_run_avgpool2d_f32(const mt_model *model, const mt_layer *layer, void *arena);
mt_status mt_run_global_avgpool_f32(const mt_model *model, const mt_layer *layer, void *arena);
mt_status mt_run_relu_f32(const mt_model *model, const mt_layer *layer, void *arena);
mt_status mt_run_clip_f32(const mt_model *model, const mt_layer *layer, void *arena);
mt_status mt_run_leaky_relu_f32(const mt_model *model, const mt_layer *layer, void *arena);
mt_status mt_run_sigmoid_f32(const mt_model *model, const mt_layer *layer, void *arena);
mt_status mt_run_tanh_f32(const mt_model *model, const mt_layer *layer, void *arena);
mt_status mt_run_step_f32(const mt_model *model, const mt_layer *layer, void *arena);
mt_status mt_run_softmax_f32(const mt_model *model, const mt_layer *layer, void *arena);
mt_status mt_run_log_softmax_f32(const mt_model *model, const mt_layer *layer, void *arena);
/* int8 models (relu and clip are one clamp; leaky_relu, sigmoid, tanh and step are
 * one lookup table):                                                          */
mt_status mt_run_conv2d_s8(const mt_model *model, const mt_layer *layer, void *arena);
mt_status mt_run_conv2d_maxpool_s8(const mt_model *model, const mt_layer *layer, void *arena);
mt_status mt_run_linear_s8(const mt_model *model, const mt_layer *layer, void *arena);
mt_status mt_run_maxpool2d_s8(const mt_model *model, const mt_layer *layer, void *arena);
mt_status mt_run_avgpool2d_s8(const mt_model *model, const mt_layer *layer, void *arena);
mt_status mt_run_global_avgpool_s8(const mt_model *model, const mt_layer *layer, void *arena);
mt_status mt_run_clamp_s8(const mt_model *model, const mt_layer *layer, void *arena);
mt_status mt_run_lut_s8(const mt_model *model, const mt_layer *layer, void *arena);
mt_status mt_run_softmax_s8(const mt_model *model, const mt_layer *layer, void *arena);

/* Run layer `index` alone (0 <= index < n_layers), for per-layer measurements;
 * mt_model_check must have passed for this arena. */
mt_status mt_model_run_layer(const mt_model *model, void *arena, int32_t index);

#endif /* MT_MODEL_H */
