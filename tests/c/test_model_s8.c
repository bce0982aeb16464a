/* test_model_s8.c - the schedule engine on an int8 model (mt_model.h, dtype MT_DTYPE_S8):
 * a hand-built linear -> clamp -> table schedule worked out by hand, 1-byte tensors
 * in the arena, the typed accessors, and the checks an int8 model must pass. */
#include <stdint.h>
#include <string.h>
#include "mt/mt.h"
#include "mt_test.h"

#define HALF (INT32_C(1) << 30)   /* multiplier 2^30 with shift 0 = x 0.5 */

/* linear 4 -> 3: W rows {1,0,0,0}, {0,1,1,0}, {1,1,1,1}, bias {0, 2, -4}, x 0.5 */
static const int8_t weight[12] = { 1, 0, 0, 0,  0, 1, 1, 0,  1, 1, 1, 1 };
static const int32_t bias[3] = { 0, 2, -4 };
static const int32_t multiplier[3] = { HALF, HALF, HALF };
static const int32_t shift[3] = { 0, 0, 0 };
static int8_t table[256];          /* y = -1 - x, filled by main */

static const mt_layer_s8 s8_params[3] = {
    { .io = { 0, 0, -128, 127 }, .quant = { multiplier, shift }, .weight = weight, .bias = bias },
    { .io = { 0, 0, 0, 127 } },                  /* ReLU: clamp to [0, 127] */
    { .io = { 0, 0, -128, 127 }, .table = table },
};

/* Tensors of 4 and 3 int8 elements: 1 byte each, so 8 bytes of arena hold both. */
static const mt_tensor tensors[2] = { { { 1, 1, 1, 4 }, 0 }, { { 1, 1, 1, 3 }, 4 } };

static const mt_layer layers[3] = {
    { .op = MT_OP_LINEAR, .run = mt_run_linear_s8, .in = 0, .out = 1, .weight_dims = { 3, 1, 1, 4 },
      .s8 = &s8_params[0] },
    { .op = MT_OP_RELU, .run = mt_run_clamp_s8, .in = 1, .out = 1, .s8 = &s8_params[1] },
    { .op = MT_OP_SIGMOID, .run = mt_run_lut_s8, .in = 1, .out = 1, .s8 = &s8_params[2] },
};

static const mt_model model = {
    .n_layers = 3, .layers = layers, .n_tensors = 2, .tensors = tensors,
    .input = 0, .output = 1, .arena_size = 8, .dtype = MT_DTYPE_S8,
};

static void test_forward(void)
{
    int32_t arena[2] = { 0, 0 };
    for (int i = 0; i < 256; i++)
        table[i] = (int8_t)(127 - i);            /* table[x + 128] = -1 - x */
    MT_EXPECT_STATUS(mt_model_check(&model, arena, sizeof arena), MT_OK);
    int8_t *x = mt_model_input_s8(&model, arena);
    MT_EXPECT(x == (int8_t *)arena);
    MT_EXPECT(mt_model_input_f32(&model, arena) == NULL);    /* not a float model */
    MT_EXPECT(mt_model_output_f32(&model, arena) == NULL);
    const int8_t in[4] = { 10, 20, -30, 40 };
    memcpy(x, in, sizeof in);
    MT_EXPECT_STATUS(mt_model_forward(&model, arena, sizeof arena), MT_OK);
    /* acc = {10, 20 - 30 + 2, 10 + 20 - 30 + 40 - 4} = {10, -8, 36}; x 0.5 -> {5, -4, 18};
     * clamp [0, 127] -> {5, 0, 18}; table -> {-6, -1, -19} */
    const int8_t *y = mt_model_output_s8(&model, arena);
    MT_EXPECT(y == (const int8_t *)arena + 4);
    MT_EXPECT(y[0] == -6 && y[1] == -1 && y[2] == -19);

    /* layer by layer gives the same */
    memcpy(x, in, sizeof in);
    for (int32_t i = 0; i < 3; i++)
        MT_EXPECT_STATUS(mt_model_run_layer(&model, arena, i), MT_OK);
    MT_EXPECT(y[0] == -6 && y[1] == -1 && y[2] == -19);
}

static void test_checks(void)
{
    int32_t arena[4] = { 0, 0, 0, 0 };
    mt_model m = model;
    /* the same tables as float would need 4 bytes per element: outside the arena */
    m.dtype = MT_DTYPE_F32;
    MT_EXPECT_STATUS(mt_model_check(&m, arena, sizeof arena), MT_ERR_RANGE);
    MT_EXPECT(mt_model_input_s8(&m, arena) == NULL);
    MT_EXPECT(mt_model_output_s8(&m, arena) == NULL);
    m.dtype = 7;
    MT_EXPECT_STATUS(mt_model_check(&m, arena, sizeof arena), MT_ERR_ARG);

    /* every layer of an int8 model needs its int8 parameters */
    mt_layer bad[3];
    memcpy(bad, layers, sizeof bad);
    bad[1].s8 = NULL;
    m = model;
    m.layers = bad;
    MT_EXPECT_STATUS(mt_model_check(&m, arena, sizeof arena), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_model_run_layer(&m, arena, 1), MT_ERR_NULL);

    /* a lookup layer without its table, a softmax without its exp table */
    mt_layer_s8 empty = { .io = { 0, 0, -128, 127 } };
    memcpy(bad, layers, sizeof bad);
    bad[2].s8 = &empty;
    MT_EXPECT_STATUS(mt_model_forward(&m, arena, sizeof arena), MT_ERR_NULL);
    bad[2].op = MT_OP_SOFTMAX;
    bad[2].run = mt_run_softmax_s8;
    MT_EXPECT_STATUS(mt_model_forward(&m, arena, sizeof arena), MT_ERR_NULL);
    bad[2].run = NULL;                            /* a layer without a runner */
    MT_EXPECT_STATUS(mt_model_check(&m, arena, sizeof arena), MT_ERR_NULL);
    MT_EXPECT_STATUS(mt_model_run_layer(&m, arena, 2), MT_ERR_NULL);

    /* no trainable parameters in an int8 model */
    static const float init[1] = { 0.0f };
    static const mt_param param = { init, 1, 0, { -1, -1 } };
    m = model;
    m.n_params = 1;
    m.params = &param;
    MT_EXPECT_STATUS(mt_model_check(&m, arena, sizeof arena), MT_ERR_UNSUPPORTED);

    /* too small an arena */
    MT_EXPECT_STATUS(mt_model_check(&model, arena, 7), MT_ERR_ARENA);
}

int main(void)
{
    test_forward();
    test_checks();
    return mt_test_summary("test_model_s8");
}
