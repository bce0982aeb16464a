/* test_qtrainer.c - the arena-offset integer trainer (mt_qtrain.h): a 2-4-1 MLP
 * (Linear-ReLU-Linear, MSE) whose first layer is frozen (int8 copy in "flash") and
 * whose second trains from an int32 master, all state in one arena. Checks: init
 * restores the masters, the arena checks, OR is learnt, two runs give the same bits. */
#include <string.h>
#include "mt/mt_qtrain.h"
#include "mt_test.h"

/* fc1 frozen: w (4, 2) int8 at 2^-6, b int32 at 2^-8; fc2 trainable: master at 2^-24. */
static const int8_t fc1_w[8] = {40, 45, -30, 50, 55, -20, 35, 38};
static const int32_t fc1_b[4] = {0, 10, -5, 3};
static const int32_t fc2_w0[4] = {3000000, -2000000, 2500000, 1000000};
static const int32_t fc2_b0[1] = {100000};
static const mt_dims dims[3] = {{4, 1, 1, 2}, {4, 1, 1, 4}, {4, 1, 1, 1}};
/* arena: header 0, fc2 w 8..24, b 24..28, w_q 28..32, exps 32..52, rng 52..56,
 * act0 56..64, act1 64..80, act2 80..84, grad 84..100, 100..116, scratch 116..180,
 * targets 180..184, tables at 184. */
static const int32_t act_offsets[3] = {56, 64, 80};
static const mt_q_train_layer layers[2] = {
    {.op = MT_QOP_LINEAR, .relu = 1, .weight_dims = {4, 1, 1, 2}, .trainable = 0,
     .weight_q = fc1_w, .weight_exp = -6, .bias_init = fc1_b, .bias_exp = -8,
     .weight_offset = -1, .bias_offset = -1, .weight_velocity_offset = -1,
     .bias_velocity_offset = -1, .weight_q_offset = -1},
    {.op = MT_QOP_LINEAR, .relu = 0, .weight_dims = {1, 1, 1, 4}, .trainable = 1,
     .weight_init = fc2_w0, .weight_exp = -24, .bias_init = fc2_b0, .bias_exp = -24,
     .weight_offset = 8, .bias_offset = 24, .weight_velocity_offset = -1,
     .bias_velocity_offset = -1, .weight_q_offset = 28},
};
static const mt_q_trainer trainer = {
    .layers = layers, .n_layers = 2, .dims = dims, .act_offsets = act_offsets,
    .exp_offset = 32, .grad_offsets = {84, 100}, .grad_size = 16,
    .scratch_offset = 116, .scratch_size = 64, .target_offset = 180, .loss = 1,
    .sgd = {52429, 19, 0, 0}, .rng_offset = 52, .seed = 2463534242u,
    .view_offset = 184, .arena_size = 184 + MT_QTRAIN_VIEW_BYTES(2),
};
#define ARENA_BYTES (184 + 2 * 168 + 3 * 8 + 112 + 8)

static int train_or(uint64_t *arena, int steps)
{
    static const int8_t x[8] = {0, 0, 0, 127, 127, 0, 127, 127};   /* at 2^-7 */
    static const int8_t t[4] = {0, 127, 127, 127};
    int32_t loss = 0, e = 0;
    MT_EXPECT_STATUS(mt_q_trainer_init(&trainer, arena, ARENA_BYTES), MT_OK);
    for (int s = 0; s < steps; s++) {
        memcpy(mt_q_trainer_input(&trainer, arena), x, sizeof x);
        memcpy(mt_q_trainer_target(&trainer, arena), t, sizeof t);
        if (mt_q_trainer_step(&trainer, arena, ARENA_BYTES, -7, -7, &loss) != MT_OK)
            return -1;
    }
    memcpy(mt_q_trainer_input(&trainer, arena), x, sizeof x);
    MT_EXPECT_STATUS(mt_q_trainer_forward(&trainer, arena, ARENA_BYTES, -7, &e), MT_OK);
    const int8_t *y = mt_q_trainer_output(&trainer, arena);
    int correct = 0;
    for (int i = 0; i < 4; i++) {          /* y * 2^e > 1/2  <=>  2 * y > 2^-e (e < 0) */
        const int64_t twice = 2 * (int64_t)y[i];
        const int above = e >= 0 ? y[i] > 0 : (-e < 40 && twice > ((int64_t)1 << -e));
        correct += above == (t[i] > 0);
    }
    return correct;
}

int main(void)
{
    static uint64_t a[ARENA_BYTES / 8 + 1], b[ARENA_BYTES / 8 + 1];
    MT_EXPECT(trainer.arena_size <= ARENA_BYTES);
    int32_t loss;
    MT_EXPECT_STATUS(mt_q_trainer_step(&trainer, a, ARENA_BYTES, -7, -7, &loss), MT_ERR_ARG); /* no init */
    MT_EXPECT_STATUS(mt_q_trainer_init(&trainer, a, 100), MT_ERR_ARENA);
    MT_EXPECT_STATUS(mt_q_trainer_init(&trainer, a, ARENA_BYTES), MT_OK);
    MT_EXPECT(memcmp((uint8_t *)a + 8, fc2_w0, sizeof fc2_w0) == 0);
    MT_EXPECT(train_or(a, 200) == 4);
    MT_EXPECT(train_or(b, 200) == 4);
    MT_EXPECT(memcmp((uint8_t *)a + 8, (uint8_t *)b + 8, 20) == 0);   /* same masters */
    MT_EXPECT(memcmp((uint8_t *)a + 8, fc2_w0, sizeof fc2_w0) != 0);   /* they moved */
    return mt_test_summary("test_qtrainer");
}
