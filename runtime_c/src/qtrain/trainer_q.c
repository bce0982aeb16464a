/* trainer_q.c - the arena-offset trainer of a converted integer-only model
 * (mt_qtrain.h): builds an mt_q_net over the arena on the stack and runs train_q.c. */
#include "mt/mt_qtrain.h"
#include "q_internal.h"

/* The net's tables for one call, in the arena at view_offset (MT_QTRAIN_VIEW_BYTES). */
typedef struct {
    mt_q_layer *layers;
    int8_t **act;
    mt_q_net *net;
} q_view;

static int32_t *at32(void *arena, int32_t off)
{
    return off < 0 ? NULL : (int32_t *)(void *)((uint8_t *)arena + off);
}

static int8_t *at8(void *arena, int32_t off)
{
    return off < 0 ? NULL : (int8_t *)arena + off;
}

static mt_status check_arena(const mt_q_trainer *t, const void *arena, int32_t arena_size)
{
    MT_CHECK(t && arena, MT_ERR_NULL);
    MT_CHECK(((uintptr_t)arena & (sizeof(void *) - 1)) == 0 && ((uintptr_t)arena & 3) == 0,
             MT_ERR_ARG);
    MT_CHECK(t->n_layers >= 1, MT_ERR_ARG);
    MT_CHECK(t->view_offset >= 0 && (t->view_offset & 7) == 0, MT_ERR_ARG);
    MT_CHECK(t->arena_size >= t->view_offset + MT_QTRAIN_VIEW_BYTES(t->n_layers), MT_ERR_ARENA);
    MT_CHECK(arena_size >= t->arena_size, MT_ERR_ARENA);
    return MT_OK;
}

/* Pointers of the net into the arena. Frozen layers point at their const flash
 * copies (cast: the engine writes weight_q only of layers with a master). */
static void build_view(const mt_q_trainer *t, void *arena, q_view *v)
{
    int32_t *exps = at32(arena, t->exp_offset);
    v->layers = (mt_q_layer *)(void *)((uint8_t *)arena + t->view_offset);
    v->act = (int8_t **)(void *)(v->layers + t->n_layers);
    v->net = (mt_q_net *)(void *)(v->act + t->n_layers + 1);
    for (int32_t i = 0; i < t->n_layers; i++) {
        const mt_q_train_layer *s = &t->layers[i];
        mt_q_layer *l = &v->layers[i];
        l->op = s->op;
        l->relu = s->relu;
        l->conv = s->conv;
        l->pool = s->pool;
        l->weight_dims = s->weight_dims;
        l->trainable = s->trainable;
        l->weight_exp = s->weight_exp;
        l->bias_exp = s->bias_exp;
        if (s->trainable) {
            l->weight = at32(arena, s->weight_offset);
            l->bias = at32(arena, s->bias_offset);
            l->weight_velocity = at32(arena, s->weight_velocity_offset);
            l->bias_velocity = at32(arena, s->bias_velocity_offset);
            l->weight_q = at8(arena, s->weight_q_offset);
        } else {
            l->weight = NULL;
            l->bias = (int32_t *)(uintptr_t)s->bias_init;
            l->weight_velocity = l->bias_velocity = NULL;
            l->weight_q = (int8_t *)(uintptr_t)s->weight_q;
        }
    }
    for (int32_t i = 0; i <= t->n_layers; i++)
        v->act[i] = at8(arena, t->act_offsets[i]);
    mt_q_net *n = v->net;
    n->layers = v->layers;
    n->n_layers = t->n_layers;
    n->dims = t->dims;
    n->act = v->act;
    n->act_exp = exps;
    n->weight_q_exp = exps + t->n_layers + 1;
    n->grad[0] = at8(arena, t->grad_offsets[0]);
    n->grad[1] = at8(arena, t->grad_offsets[1]);
    n->grad_size = t->grad_size;
    n->scratch = at32(arena, t->scratch_offset);
    n->scratch_size = t->scratch_size;
    n->loss = t->loss;
    n->sgd = t->sgd;
    n->rng_state = (uint32_t *)(void *)at32(arena, t->rng_offset);
}

mt_status mt_q_trainer_init(const mt_q_trainer *t, void *arena, int32_t arena_size)
{
    mt_status st = check_arena(t, arena, arena_size);
    MT_CHECK(st == MT_OK, st);
    MT_CHECK(t->seed != 0, MT_ERR_ARG);
    q_view v;
    build_view(t, arena, &v);
    for (int32_t i = 0; i < t->n_layers; i++) {
        const mt_q_train_layer *s = &t->layers[i];
        mt_q_layer *l = &v.layers[i];
        if (l->op != MT_QOP_LINEAR && l->op != MT_QOP_CONV2D)
            continue;
        const int32_t count = mt_dims_count(&s->weight_dims), out = s->weight_dims.n;
        if (!s->trainable) {                        /* const copy and exponent */
            MT_CHECK(s->weight_q, MT_ERR_NULL);
            v.net->weight_q_exp[i] = s->weight_exp;
            continue;
        }
        MT_CHECK(s->weight_init && l->weight && l->weight_q, MT_ERR_NULL);
        for (int32_t k = 0; k < count; k++) {
            l->weight[k] = s->weight_init[k];
            if (l->weight_velocity)
                l->weight_velocity[k] = 0;
        }
        if (l->bias) {
            MT_CHECK(s->bias_init, MT_ERR_NULL);
            for (int32_t k = 0; k < out; k++) {
                l->bias[k] = s->bias_init[k];
                if (l->bias_velocity)
                    l->bias_velocity[k] = 0;
            }
        }
    }
    *v.net->rng_state = t->seed;
    uint32_t *header = (uint32_t *)arena;
    header[0] = MT_QTRAIN_MAGIC;
    header[1] = 0;                                  /* steps taken */
    return mt_q_net_refresh(v.net);
}

int8_t *mt_q_trainer_input(const mt_q_trainer *t, void *arena)
{
    return t && arena ? at8(arena, t->act_offsets[0]) : NULL;
}

void *mt_q_trainer_target(const mt_q_trainer *t, void *arena)
{
    return t && arena ? (void *)at8(arena, t->target_offset) : NULL;
}

const int8_t *mt_q_trainer_output(const mt_q_trainer *t, const void *arena)
{
    return t && arena ? (const int8_t *)arena + t->act_offsets[t->n_layers] : NULL;
}

static mt_status ready(const mt_q_trainer *t, void *arena, int32_t arena_size, int32_t input_exp)
{
    mt_status st = check_arena(t, arena, arena_size);
    MT_CHECK(st == MT_OK, st);
    MT_CHECK(((const uint32_t *)arena)[0] == MT_QTRAIN_MAGIC, MT_ERR_ARG);   /* init first */
    MT_CHECK(q_exp_ok(input_exp), MT_ERR_RANGE);
    at32(arena, t->exp_offset)[0] = input_exp;
    return MT_OK;
}

mt_status mt_q_trainer_forward(const mt_q_trainer *t, void *arena, int32_t arena_size,
                               int32_t input_exp, int32_t *output_exp)
{
    MT_CHECK(output_exp, MT_ERR_NULL);
    mt_status st = ready(t, arena, arena_size, input_exp);
    MT_CHECK(st == MT_OK, st);
    q_view v;
    build_view(t, arena, &v);
    st = mt_q_net_forward(v.net);
    *output_exp = v.net->act_exp[t->n_layers];
    return st;
}

mt_status mt_q_trainer_step(const mt_q_trainer *t, void *arena, int32_t arena_size,
                            int32_t input_exp, int32_t target_exp, int32_t *loss_q16)
{
    MT_CHECK(loss_q16, MT_ERR_NULL);
    mt_status st = ready(t, arena, arena_size, input_exp);
    MT_CHECK(st == MT_OK, st);
    q_view v;
    build_view(t, arena, &v);
    st = mt_q_net_train_step(v.net, mt_q_trainer_target(t, arena), target_exp, loss_q16);
    if (st == MT_OK)
        ((uint32_t *)arena)[1] += 1u;
    return st;
}
