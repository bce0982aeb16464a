/* test_s8_fast.c - the DSP formulation of the fast int8 conv/linear loops (SXTB16 pairs
 * and SMLAD, runtime_c/src/support/simd_s8.h) run on the host through C models of the
 * instructions (MT_S8_EMULATE_DSP): the kernels' sources are compiled a second time
 * here under other names, and compared bit for bit with the library's (portable)
 * build and with a naive reference over a grid of shapes: C = 1, C and K not multiples
 * of 4, odd widths and channel counts, padding, stride, dilation, batch 2, channel
 * chunks, extreme offsets and values, every kind of requantization shift. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MT_S8_EMULATE_DSP 1
#define mt_conv2d_s8 emu_conv2d_s8
#define mt_linear_s8 emu_linear_s8
#include "../../runtime_c/src/conv/conv2d_s8.c"
#include "../../runtime_c/src/linear/linear_s8.c"
#undef mt_conv2d_s8
#undef mt_linear_s8

#include "mt_test.h"

/* the library's own entry points (their declarations above were renamed) */
mt_status mt_conv2d_s8(const mt_conv_params *params, const mt_s8_io *io, const mt_requant *quant,
                       const mt_dims *in_dims, const int8_t *in,
                       const mt_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                       const mt_dims *out_dims, int8_t *out);
mt_status mt_linear_s8(const mt_s8_io *io, const mt_requant *quant,
                       const mt_dims *in_dims, const int8_t *in,
                       const mt_dims *weight_dims, const int8_t *weight, const int32_t *bias,
                       const mt_dims *out_dims, int8_t *out);

static uint32_t rng_state = 12345u;

static uint32_t rnd(void)
{
    uint32_t x = rng_state;
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    return rng_state = x;
}

static int32_t rnd_in(int32_t lo, int32_t hi)   /* uniform in [lo, hi] */
{
    return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1));
}

/* the output stage from its definition (mt_s8.h) */
static int8_t ref_output(int64_t acc, const int32_t *bias, int32_t o, const mt_requant *q,
                         const mt_s8_io *io)
{
    if (bias)
        acc += bias[o];
    if (acc > INT32_MAX) acc = INT32_MAX;
    if (acc < INT32_MIN) acc = INT32_MIN;
    int32_t r = mt_requantize((int32_t)acc, q->multiplier[o], q->shift[o]);
    if (r > 256) r = 256;
    if (r < -256) r = -256;
    int32_t v = r + io->output_offset;
    v = v < io->act_min ? io->act_min : (v > io->act_max ? io->act_max : v);
    return (int8_t)v;
}

#define MAX_IN 4096
#define MAX_W 65536
#define MAX_O 128
#define MAX_OUT 8192

static int8_t x[MAX_IN], w[MAX_W], y_emu[MAX_OUT], y_lib[MAX_OUT], y_ref[MAX_OUT];
static int32_t bias[MAX_O], mult[MAX_O], shift[MAX_O];

/* random data; mode 1: the largest products (x = w = -128, some 127) */
static void fill(int8_t *a, int32_t n, int mode)
{
    for (int32_t i = 0; i < n; i++)
        a[i] = mode ? (i % 5 ? -128 : 127) : (int8_t)rnd_in(-128, 127);
}

static void fill_quant(int32_t o, int32_t k)
{
    int32_t base = -2;   /* about -log2(sqrt(k) * 128 * 74 / 40) - 1 */
    for (int32_t t = (int32_t)(k > 0 ? k : 1) * 128 * 74 / 40; t > 1; t >>= 2)
        base--;
    for (int32_t i = 0; i < o; i++) {
        mult[i] = (int32_t)(0x40000000u + (rnd() & 0x3FFFFFFFu));
        shift[i] = base + rnd_in(-1, 1);
        if (shift[i] < -31) shift[i] = -31;
        if (shift[i] > -2) shift[i] = -2;
        if (rnd() % 4 == 0) {           /* the general rule: shift >= -1 */
            shift[i] = rnd_in(-1, 2);
            mult[i] = rnd_in(0, 65535);
        }
        bias[i] = rnd_in(-50000, 50000);
    }
}

static void random_io(mt_s8_io *io)
{
    static const int32_t offs[] = { -127, 128, 0, 1 };
    io->input_offset = rnd() % 3 ? rnd_in(-127, 128) : offs[rnd() % 4];
    io->output_offset = rnd_in(-128, 127);
    io->act_min = -128, io->act_max = 127;
    if (rnd() % 3 == 0) {
        io->act_min = rnd_in(-128, 127);
        io->act_max = rnd_in(io->act_min, 127);
    }
}

static int same(const int8_t *a, const int8_t *b, int32_t n)
{
    return memcmp(a, b, (size_t)n) == 0;
}

static void check_conv(int32_t N, int32_t H, int32_t W, int32_t C, int32_t O, int32_t KH,
                       int32_t KW, int32_t stride, int32_t pad, int32_t dil, int mode)
{
    mt_conv_params p = { stride, stride, pad, pad, pad, pad, dil, dil, 1 };
    const int32_t OH = (H + 2 * pad - dil * (KH - 1) - 1) / stride + 1;
    const int32_t OW = (W + 2 * pad - dil * (KW - 1) - 1) / stride + 1;
    const int32_t K = KH * KW * C;
    mt_dims din = { N, H, W, C }, dw = { O, KH, KW, C }, dout = { N, OH, OW, O };
    mt_s8_io io;
    random_io(&io);
    fill(x, N * H * W * C, mode);
    fill(w, O * K, mode);
    fill_quant(O, K);
    const int32_t *b = rnd() % 4 ? bias : NULL;
    mt_requant q = { mult, shift };
    MT_EXPECT_STATUS(emu_conv2d_s8(&p, &io, &q, &din, x, &dw, w, b, &dout, y_emu), MT_OK);
    MT_EXPECT_STATUS(mt_conv2d_s8(&p, &io, &q, &din, x, &dw, w, b, &dout, y_lib), MT_OK);
    for (int32_t n = 0; n < N; n++)
        for (int32_t oy = 0; oy < OH; oy++)
            for (int32_t ox = 0; ox < OW; ox++)
                for (int32_t o = 0; o < O; o++) {
                    int64_t acc = 0;
                    for (int32_t ky = 0; ky < KH; ky++)
                        for (int32_t kx = 0; kx < KW; kx++) {
                            const int32_t iy = oy * stride - pad + ky * dil;
                            const int32_t ix = ox * stride - pad + kx * dil;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                continue;
                            for (int32_t c = 0; c < C; c++)
                                acc += (int64_t)(x[((n * H + iy) * W + ix) * C + c] +
                                                 io.input_offset) *
                                       w[((o * KH + ky) * KW + kx) * C + c];
                        }
                    y_ref[((n * OH + oy) * OW + ox) * O + o] = ref_output(acc, b, o, &q, &io);
                }
    const int32_t count = N * OH * OW * O;
    MT_EXPECT(same(y_emu, y_ref, count));
    MT_EXPECT(same(y_lib, y_ref, count));
    if (!same(y_emu, y_ref, count) || !same(y_lib, y_ref, count))
        fprintf(stderr, "  conv N%d H%d W%d C%d O%d k%dx%d s%d p%d d%d mode %d\n", (int)N,
                (int)H, (int)W, (int)C, (int)O, (int)KH, (int)KW, (int)stride, (int)pad,
                (int)dil, mode);
}

static void check_linear(int32_t N, int32_t K, int32_t O, int mode)
{
    mt_dims din = { N, 1, 1, K }, dw = { O, 1, 1, K }, dout = { N, 1, 1, O };
    mt_s8_io io;
    random_io(&io);
    fill(x, N * K, mode);
    fill(w, O * K, mode);
    fill_quant(O, K);
    const int32_t *b = rnd() % 4 ? bias : NULL;
    mt_requant q = { mult, shift };
    MT_EXPECT_STATUS(emu_linear_s8(&io, &q, &din, x, &dw, w, b, &dout, y_emu), MT_OK);
    MT_EXPECT_STATUS(mt_linear_s8(&io, &q, &din, x, &dw, w, b, &dout, y_lib), MT_OK);
    for (int32_t n = 0; n < N; n++)
        for (int32_t o = 0; o < O; o++) {
            int64_t acc = 0;
            for (int32_t k = 0; k < K; k++)
                acc += (int64_t)(x[n * K + k] + io.input_offset) * w[o * K + k];
            y_ref[n * O + o] = ref_output(acc, b, o, &q, &io);
        }
    MT_EXPECT(same(y_emu, y_ref, N * O));
    MT_EXPECT(same(y_lib, y_ref, N * O));
    if (!same(y_emu, y_ref, N * O) || !same(y_lib, y_ref, N * O))
        fprintf(stderr, "  linear N%d K%d O%d mode %d\n", (int)N, (int)K, (int)O, mode);
}

/* The emulated instructions themselves, on edge values. */
static void test_instruction_models(void)
{
    /* bytes b0..b3 = 0x01, 0x7F, 0xFF, 0x80 */
    MT_EXPECT(mt_sxtb16(0x80FF7F01u) == 0xFFFF0001u);        /* (b0, b2) = (1, -1)      */
    MT_EXPECT(mt_sxtb16_ror8(0x80FF7F01u) == 0xFF80007Fu);   /* (b1, b3) = (127, -128)  */
    MT_EXPECT(mt_sxtab16(mt_pack_off(128), 0x80808080u) == 0x00000000u);
    MT_EXPECT(mt_sxtab16(mt_pack_off(-127), 0x7F7F7F7Fu) == 0x00000000u);
    MT_EXPECT(mt_smlad(0xFF80FF80u, 0xFF80FF80u, 5) == 5 + 2 * 16384);   /* (-128)^2 twice */
    MT_EXPECT(mt_smlad(0x7FFF8000u, 0x80007FFFu, 0) == -32767 * 32768 - 32768 * 32767);
    const mt_s8x4 a = mt_load_s8x4((const int8_t[]){ -128, 127, -1, 3 });
    const mt_s8x4 b = mt_load_s8x4((const int8_t[]){ -128, -128, 127, 2 });
    MT_EXPECT(mt_dot_s8x4(7, a, b) == 7 + 16384 - 16256 - 127 + 6);
}

int main(void)
{
    test_instruction_models();
    /* (N, H, W, C, O, KH, KW, stride, pad, dilation) */
    static const int32_t grid[][10] = {
        { 1, 32, 32, 1, 6, 5, 5, 1, 0, 1 },   /* LeNet-5 conv1 */
        { 1, 14, 14, 6, 16, 5, 5, 1, 0, 1 },  /* LeNet-5 conv2 */
        { 2, 7, 9, 3, 5, 3, 3, 2, 1, 1 },     /* batch 2, stride 2, odd O, K = 27 */
        { 1, 5, 7, 1, 3, 3, 3, 1, 1, 1 },     /* C = 1, K = 9, padding */
        { 1, 6, 5, 5, 1, 2, 2, 1, 0, 1 },     /* O = 1 */
        { 1, 4, 5, 2, 2, 1, 1, 1, 0, 1 },     /* K = 2 */
        { 1, 4, 4, 4, 7, 1, 1, 1, 0, 1 },     /* K = 4 */
        { 1, 9, 9, 2, 3, 3, 3, 1, 2, 2 },     /* dilation 2 */
        { 3, 3, 3, 1, 2, 3, 3, 1, 1, 1 },     /* all windows padded, odd pixel count */
        { 1, 1, 1, 3, 3, 1, 1, 1, 0, 1 },     /* one pixel */
        { 1, 6, 6, 2, 33, 3, 3, 1, 1, 1 },    /* two channel chunks */
        { 1, 5, 5, 21, 4, 3, 3, 1, 1, 1 },    /* K = 189 */
        { 1, 5, 5, 22, 4, 3, 3, 1, 1, 1 },    /* K = 198: the direct loop */
        { 2, 4, 9, 5, 3, 3, 3, 1, 0, 1 },     /* interior windows at the input's end */
    };
    for (unsigned g = 0; g < sizeof grid / sizeof grid[0]; g++)
        for (int mode = 0; mode < 2; mode++)
            for (int rep = 0; rep < 3; rep++) {
                const int32_t *c = grid[g];
                check_conv(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], mode);
            }
    for (int32_t k = 1; k <= 9; k++)
        for (int32_t o = 1; o <= 9; o++)
            check_linear(1 + (k + o) % 3, k, o, (k * o) % 2);
    check_linear(1, 400, 120, 0);
    check_linear(2, 401, 10, 1);
    return mt_test_summary("test_s8_fast");
}
