/* conv2d_q_fast.c - fast paths of the q-tensor convolution (groups 1, dilation 1).
 *
 * With one group and no dilation, the taps of one filter row ky that fall inside the
 * input are kx in [kx0, kx1), and in NHWC / OHWI they are ONE contiguous segment of
 * (kx1 - kx0) * C bytes in both x (row iy, from column ix0 + kx0) and the filter
 * (o, ky, kx0, 0): every inner loop below is a plain dot product or a row update over
 * such a segment (q_dot.h), with the index arithmetic done once per row.
 *
 *   forward: acc[n,oy,ox,o]      = patch(n,oy,ox) . w[o]   when K = KH*KW*C <= 256: the
 *            segments copied into one zero-padded patch, one dot product of length K
 *            per channel, 4 channels per read of the patch (on DSP cores the patch is
 *            split into SXTB16 lanes once per pixel);
 *            else sum_ky x-segment . w[o,ky]-segment, 2 channels per pass;
 *   dx:      acc[n,iy,ix0.., :]  += dy[n,oy,ox,o] * w[o,ky]-segment     (dy == 0 skipped)
 *   dW:      dW[o,ky,kx0.., :]   += dy[n,oy,ox,o] * x-segment            (dy == 0 skipped;
 *            the block is overwritten, not accumulated: the engine's use)
 *
 * On DSP cores with GCC the forward takes the pre-split path instead (mt_qi_conv2d_acc_dsp:
 * the filter split into SXTB16 lanes once per call, the input rows read in place), the
 * row updates are SXTB16 + SMLABB/SMLATB loops (q_dot.h), and dW of 4- or 5-byte filter
 * rows (LeNet's first conv) updates a whole KH-row block per non-zero dy (dw_rows45).
 *
 * Integer sums are exact (the overflow bounds of conv2d_q.c hold for every partial
 * sum, all terms being bounded by the same count), so the results equal the reference
 * twins in conv2d_q.c bit for bit (tests/c/test_qtrain_fast.c, on the host and on the
 * emulated Cortex-M3/M4/M7/M33 through tests/test_qtrain_fast.py). */
#include "q_internal.h"
#include "q_dot.h"

int mt_qi_conv2d_fast_ok(const mt_conv_params *p)
{
    return p->groups == 1 && p->dilation_h == 1 && p->dilation_w == 1;
}

/* Taps [k0, k1) of a kernel of size K at input start i0 (= o*stride - pad) inside
 * [0, size); k1 <= k0 when none is. */
static inline void tap_range(int32_t i0, int32_t K, int32_t size, int32_t *k0, int32_t *k1)
{
    *k0 = i0 < 0 ? -i0 : 0;
    *k1 = size - i0 < K ? size - i0 : K;
}

/* Bias aligned to the accumulator, then ReLU, saturated (as the reference). */
static inline int32_t finish(int32_t sum, int32_t b, int32_t relu)
{
#if defined(__ARM_FEATURE_DSP)
    const int32_t v = __qadd(sum, b);           /* saturating: q_sat32(sum + b) */
#else
    const int32_t v = q_sat32((int64_t)sum + b);
#endif
    return relu && v < 0 ? 0 : v;
}

/* rows segments of len bytes from src (stride ss) to dst (stride ds). Written out
 * word by word: the rows are short (KW*C bytes), and GCC is told not to turn the
 * loop back into memcpy calls. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
static void copy_rows(int8_t *dst, int32_t ds, const int8_t *src, int32_t ss,
                      int32_t rows, int32_t len)
{
    for (int32_t r = 0; r < rows; r++, dst += ds, src += ss)
        q_copy_s8(dst, src, len);
}

/* Patch path: the K = KH*KW*C taps of output pixel (n, oy, ox), padding taps as 0,
 * copied to one contiguous buffer (a row segment per ky), so each output channel is
 * ONE dot product of length K with its contiguous OHWI filter (4 channels per read of
 * the patch). Zero taps add 0: the sums are those of the reference. */
#define PATCH_MAX 256       /* bytes of stack; larger filters take the row path */

static uint32_t conv_patch(const mt_conv_params *p, int32_t relu,
                           const mt_dims *xd, const int8_t *x,
                           const mt_dims *fd, const int8_t *w,
                           const int32_t *bias, int32_t bias_shift,
                           const mt_dims *yd, int32_t *acc)
{
    const int32_t H = xd->h, W = xd->w, C = xd->c, O = fd->n, KH = fd->h, KW = fd->w,
                  OH = yd->h, OW = yd->w;
    const int32_t wrow = KW * C, xrow = W * C, K = KH * wrow;
    int8_t patch[PATCH_MAX];
#if defined(__ARM_FEATURE_DSP)
    uint32_t split[PATCH_MAX / 2];      /* the patch in SXTB16 lanes (q_split_s8) */
#endif
    uint32_t bits = 0;
    int32_t *ap = acc;
    /* The aligned biases, once, in the last pixel's slots of acc: every pixel reads
     * them there, and the last one reads each slot before it writes it. */
    int32_t *bq = acc + ((int64_t)xd->n * OH * OW - 1) * O;
    for (int32_t o = 0; o < O; o++)
        bq[o] = bias ? q_sat32(q_rescale(bias[o], bias_shift)) : 0;
    for (int32_t n = 0; n < xd->n; n++) {
        const int8_t *xn = x + (int64_t)n * H * xrow;
        for (int32_t oy = 0; oy < OH; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            int32_t ky0, ky1;
            tap_range(iy0, KH, H, &ky0, &ky1);
            for (int32_t ox = 0; ox < OW; ox++, ap += O) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int32_t kx0, kx1;
                tap_range(ix0, KW, W, &kx0, &kx1);
                if (ky0 > 0 || ky1 < KH || kx0 > 0 || kx1 < KW)
                    memset(patch, 0, (size_t)K);         /* padding taps */
                if (ky0 < ky1 && kx0 < kx1)
                    copy_rows(patch + ky0 * wrow + kx0 * C, wrow,
                              xn + (int64_t)(iy0 + ky0) * xrow + (ix0 + kx0) * C, xrow,
                              ky1 - ky0, (kx1 - kx0) * C);
                /* Overflow: at most KH*KW*C <= 2^17 - 1 products |x*w| <= 2^14. */
                int32_t o = 0;
#if defined(__ARM_FEATURE_DSP)
                const int32_t K4 = K & ~3;
                q_split_s8(patch, K4 / 4, split);
#endif
                for (; o + 4 <= O; o += 4) {
                    int32_t sum[4] = {0, 0, 0, 0};
                    const int8_t *wo = w + (int64_t)o * K;
#if defined(__ARM_FEATURE_DSP)
                    q_dot4_split(split, K4 / 4, wo, K, sum);
                    for (int32_t i = K4; i < K; i++)
                        for (int32_t j = 0; j < 4; j++)
                            sum[j] += (int32_t)patch[i] * wo[j * K + i];
#else
                    q_dot4_s8(patch, wo, K, K, sum);
#endif
                    for (int32_t j = 0; j < 4; j++) {
                        const int32_t v = finish(sum[j], bq[o + j], relu);
                        ap[o + j] = v;
                        bits |= q_abs_u32(v);
                    }
                }
#if defined(__ARM_FEATURE_DSP)
                for (; o < O; o += 2) {                 /* the last 1-3 channels */
                    const int32_t rows = O - o >= 2 ? 2 : 1;
                    int32_t sum[2] = {0, 0};
                    const int8_t *wo = w + (int64_t)o * K;
                    q_dot2_split(split, K4 / 4, wo, K, rows, sum);
                    for (int32_t j = 0; j < rows; j++) {
                        for (int32_t i = K4; i < K; i++)
                            sum[j] += (int32_t)patch[i] * wo[j * K + i];
                        const int32_t v = finish(sum[j], bq[o + j], relu);
                        ap[o + j] = v;
                        bits |= q_abs_u32(v);
                    }
                }
#else
                for (; o < O; o++) {
                    const int32_t v = finish(q_dot_s8(patch, w + (int64_t)o * K, K, 0), bq[o], relu);
                    ap[o] = v;
                    bits |= q_abs_u32(v);
                }
#endif
            }
        }
    }
    return bits;
}

/* Row path (any filter size): per output-channel pair, per row ky, one dot product
 * over the row segment in place. */
static uint32_t conv_rows(const mt_conv_params *p, int32_t relu,
                          const mt_dims *xd, const int8_t *x,
                          const mt_dims *fd, const int8_t *w,
                          const int32_t *bias, int32_t bias_shift,
                          const mt_dims *yd, int32_t *acc)
{
    const int32_t H = xd->h, W = xd->w, C = xd->c, O = fd->n, KH = fd->h, KW = fd->w,
                  OH = yd->h, OW = yd->w;
    const int32_t wrow = KW * C, xrow = W * C, fsize = KH * wrow;
    uint32_t bits = 0;
    for (int32_t o = 0; o < O; o += 2) {
        const int two = o + 1 < O;
        const int8_t *w0 = w + (int64_t)o * fsize;
        const int8_t *w1 = two ? w0 + fsize : w0;
        const int32_t b0 = bias ? q_sat32(q_rescale(bias[o], bias_shift)) : 0;
        const int32_t b1 = bias && two ? q_sat32(q_rescale(bias[o + 1], bias_shift)) : 0;
        int32_t *ap = acc + o;
        for (int32_t n = 0; n < xd->n; n++) {
            const int8_t *xn = x + (int64_t)n * H * xrow;
            for (int32_t oy = 0; oy < OH; oy++) {
                const int32_t iy0 = oy * p->stride_h - p->pad_top;
                int32_t ky0, ky1;
                tap_range(iy0, KH, H, &ky0, &ky1);
                for (int32_t ox = 0; ox < OW; ox++, ap += O) {
                    const int32_t ix0 = ox * p->stride_w - p->pad_left;
                    int32_t kx0, kx1;
                    tap_range(ix0, KW, W, &kx0, &kx1);
                    /* Overflow: at most KH*KW*C <= 2^17 - 1 products |x*w| <= 2^14. */
                    int32_t s0 = 0, s1 = 0;
                    if (ky0 < ky1 && kx0 < kx1) {
                        const int32_t len = (kx1 - kx0) * C;
                        const int8_t *xp = xn + (int64_t)(iy0 + ky0) * xrow + (ix0 + kx0) * C;
                        int32_t off = ky0 * wrow + kx0 * C;
                        for (int32_t ky = ky0; ky < ky1; ky++, xp += xrow, off += wrow)
                            q_dot2_s8(xp, w0 + off, w1 + off, len, &s0, &s1);
                    }
                    const int32_t v0 = finish(s0, b0, relu);
                    ap[0] = v0;
                    bits |= q_abs_u32(v0);
                    if (two) {
                        const int32_t v1 = finish(s1, b1, relu);
                        ap[1] = v1;
                        bits |= q_abs_u32(v1);
                    }
                }
            }
        }
    }
    return bits;
}

#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
/* Pre-split path (DSP cores): each filter row segment (KW*C bytes) is padded with zero
 * bytes to wpr words and stored once per call in SXTB16 lanes, the channels of a
 * group (4, or 2 for the last 1-3) interleaved word by word. Each output pixel then
 * reads its input rows IN PLACE, a word at a time: the padding bytes of a row read
 * whatever follows the segment in x, times a zero weight. Per word: LDR + 2 SXTB16 of
 * x, then per channel LDRD of its split weights + 2 SMLAD. Windows clipped by padding,
 * or whose last read would pass the end of x, are copied to a zero-padded patch of
 * the same shape first. Exact integer sums: equal to the reference. */
#define DSP_SPLIT_STACK 192          /* uint32 words on the stack when scratch is short */
#define DSP_PATCH_MAX 256            /* bytes: KH * wpr * 4 */

/* s[c] += sum over rows r < KH, words j < wpr of x[r*xs + 4j ..] . ws (split, gs = 4
 * channels interleaved). */
static inline void dsp_dot4_rows(const int8_t *x, int32_t xs, int32_t rows, int32_t wpr,
                                 const uint32_t *ws, int32_t *s)
{
    int32_t a0 = s[0], a1 = s[1], a2 = s[2], a3 = s[3], j;
    const int32_t step = xs - 4 * wpr;
    uint32_t e, o, t0, t1;
    __asm__ volatile(
        "1:\n\t"
        "ldr    %[j], %[wpr]\n"
        "2:\n\t"
        "ldr    %[o], [%[x]], #4\n\t"
        "sxtb16 %[e], %[o]\n\t"
        "sxtb16 %[o], %[o], ror #8\n\t"
        "ldrd   %[t0], %[t1], [%[ws]], #8\n\t"
        "smlad  %[a0], %[e], %[t0], %[a0]\n\t"
        "smlad  %[a0], %[o], %[t1], %[a0]\n\t"
        "ldrd   %[t0], %[t1], [%[ws]], #8\n\t"
        "smlad  %[a1], %[e], %[t0], %[a1]\n\t"
        "smlad  %[a1], %[o], %[t1], %[a1]\n\t"
        "ldrd   %[t0], %[t1], [%[ws]], #8\n\t"
        "smlad  %[a2], %[e], %[t0], %[a2]\n\t"
        "smlad  %[a2], %[o], %[t1], %[a2]\n\t"
        "ldrd   %[t0], %[t1], [%[ws]], #8\n\t"
        "smlad  %[a3], %[e], %[t0], %[a3]\n\t"
        "smlad  %[a3], %[o], %[t1], %[a3]\n\t"
        "subs   %[j], %[j], #1\n\t"
        "bne    2b\n\t"
        "ldr    %[t0], %[step]\n\t"
        "add    %[x], %[x], %[t0]\n\t"
        "subs   %[rows], %[rows], #1\n\t"
        "bne    1b\n\t"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x),
          [ws] "+r"(ws), [rows] "+r"(rows), [j] "=&r"(j), [e] "=&r"(e), [o] "=&r"(o),
          [t0] "=&r"(t0), [t1] "=&r"(t1)
        : [wpr] "m"(wpr), [step] "m"(step)
        : "cc", "memory");
    s[0] = a0;
    s[1] = a1;
    s[2] = a2;
    s[3] = a3;
}

/* The same for a group of 2 channels. */
static inline void dsp_dot2_rows(const int8_t *x, int32_t xs, int32_t rows, int32_t wpr,
                                 const uint32_t *ws, int32_t *s)
{
    int32_t a0 = s[0], a1 = s[1], j;
    const int32_t step = xs - 4 * wpr;
    uint32_t e, o, t0, t1;
    __asm__ volatile(
        "1:\n\t"
        "ldr    %[j], %[wpr]\n"
        "2:\n\t"
        "ldr    %[o], [%[x]], #4\n\t"
        "sxtb16 %[e], %[o]\n\t"
        "sxtb16 %[o], %[o], ror #8\n\t"
        "ldrd   %[t0], %[t1], [%[ws]], #8\n\t"
        "smlad  %[a0], %[e], %[t0], %[a0]\n\t"
        "smlad  %[a0], %[o], %[t1], %[a0]\n\t"
        "ldrd   %[t0], %[t1], [%[ws]], #8\n\t"
        "smlad  %[a1], %[e], %[t0], %[a1]\n\t"
        "smlad  %[a1], %[o], %[t1], %[a1]\n\t"
        "subs   %[j], %[j], #1\n\t"
        "bne    2b\n\t"
        "ldr    %[t0], %[step]\n\t"
        "add    %[x], %[x], %[t0]\n\t"
        "subs   %[rows], %[rows], #1\n\t"
        "bne    1b\n\t"
        : [a0] "+r"(a0), [a1] "+r"(a1), [x] "+r"(x), [ws] "+r"(ws), [rows] "+r"(rows),
          [j] "=&r"(j), [e] "=&r"(e), [o] "=&r"(o), [t0] "=&r"(t0), [t1] "=&r"(t1)
        : [wpr] "m"(wpr), [step] "m"(step)
        : "cc", "memory");
    s[0] = a0;
    s[1] = a1;
}

/* Padded word j of filter row (o, ky): bytes 4j.. of the len-byte segment, 0 beyond. */
static inline uint32_t padded_word(const int8_t *seg, int32_t len, int32_t j)
{
    if (4 * j + 4 <= len)
        return q_load_word(seg + 4 * j);
    uint32_t v = 0;
    for (int32_t i = 0; 4 * j + i < len; i++)
        v |= (uint32_t)(uint8_t)seg[4 * j + i] << (8 * i);
    return v;
}

int32_t mt_qi_conv2d_acc_dsp(const mt_conv_params *p, int32_t relu,
                             const mt_dims *xd, const int8_t *x,
                             const mt_dims *fd, const int8_t *w,
                             const int32_t *bias, int32_t bias_shift,
                             const mt_dims *yd, int32_t *acc,
                             uint32_t *spare, int32_t spare_words)
{
    const int32_t H = xd->h, W = xd->w, C = xd->c, O = fd->n, KH = fd->h, KW = fd->w,
                  OH = yd->h, OW = yd->w;
    const int32_t len = KW * C, wpr = (len + 3) / 4, xrow = W * C, prow = 4 * wpr;
    const int32_t Oe = (O + 1) & ~1;                       /* channels padded to even */
    if ((int64_t)KH * prow > DSP_PATCH_MAX)
        return -1;
    const int64_t need = (int64_t)Oe * KH * wpr * 2 + O;   /* split weights + biases */
    uint32_t stack_buf[DSP_SPLIT_STACK];
    uint32_t *ws = spare;
    if (need > spare_words) {
        if (need > DSP_SPLIT_STACK)
            return -1;
        ws = stack_buf;
    }
    /* split weights, group by group: [group][ky][j][channel of the group][e, o] */
    uint32_t *wp = ws;
    for (int32_t o0 = 0; o0 < Oe; ) {
        const int32_t gs = Oe - o0 >= 4 ? 4 : 2;
        for (int32_t ky = 0; ky < KH; ky++)
            for (int32_t j = 0; j < wpr; j++)
                for (int32_t c = 0; c < gs; c++, wp += 2) {
                    const int32_t o = o0 + c;
                    const uint32_t v = o < O ? padded_word(w + ((int64_t)o * KH + ky) * len, len, j) : 0;
                    wp[0] = __sxtb16(v);
                    wp[1] = q_sxtb16_odd(v);
                }
        o0 += gs;
    }
    int32_t *bq = (int32_t *)(wp);                          /* the aligned biases */
    for (int32_t o = 0; o < O; o++)
        bq[o] = bias ? q_sat32(q_rescale(bias[o], bias_shift)) : 0;
    int8_t patch[DSP_PATCH_MAX];
    const int64_t xsize = (int64_t)xd->n * H * xrow;
    uint32_t bits = 0;
    int32_t *ap = acc;
    for (int32_t n = 0; n < xd->n; n++) {
        const int8_t *xn = x + (int64_t)n * H * xrow;
        for (int32_t oy = 0; oy < OH; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            int32_t ky0, ky1;
            tap_range(iy0, KH, H, &ky0, &ky1);
            for (int32_t ox = 0; ox < OW; ox++, ap += O) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int32_t kx0, kx1;
                tap_range(ix0, KW, W, &kx0, &kx1);
                /* offset of tap (0, 0) in x; the last read ends prow bytes into row KH-1 */
                const int64_t xo = (int64_t)(xn - x) + (int64_t)iy0 * xrow + (int64_t)ix0 * C;
                const int8_t *xs = patch;
                int32_t xstride = prow;
                if (ky0 > 0 || ky1 < KH || kx0 > 0 || kx1 < KW ||
                    xo + (int64_t)(KH - 1) * xrow + prow > xsize) {
                    /* clipped or at the end of x: a zero-padded copy, rows of prow bytes */
                    memset(patch, 0, (size_t)(KH * prow));
                    for (int32_t ky = ky0; ky < ky1; ky++)
                        for (int32_t i = kx0 * C; i < kx1 * C; i++)
                            patch[ky * prow + i] = x[xo + (int64_t)ky * xrow + i];
                } else {
                    xs = x + xo;
                    xstride = xrow;
                }
                const uint32_t *gw = ws;
                int32_t o0 = 0;
                for (; o0 + 4 <= Oe; o0 += 4, gw += 8 * KH * wpr) {
                    int32_t sum[4] = {0, 0, 0, 0};
                    dsp_dot4_rows(xs, xstride, KH, wpr, gw, sum);
                    for (int32_t c = 0; c < 4; c++) {
                        const int32_t v = finish(sum[c], bq[o0 + c], relu);
                        ap[o0 + c] = v;
                        bits |= q_abs_u32(v);
                    }
                }
                if (o0 < Oe) {                   /* the last 2 (padded) channels */
                    int32_t sum[2] = {0, 0};
                    dsp_dot2_rows(xs, xstride, KH, wpr, gw, sum);
                    for (int32_t c = 0; c < 2 && o0 + c < O; c++) {
                        const int32_t v = finish(sum[c], bq[o0 + c], relu);
                        ap[o0 + c] = v;
                        bits |= q_abs_u32(v);
                    }
                }
            }
        }
    }
    return q_dyn_shift(bits);
}
#else
int32_t mt_qi_conv2d_acc_dsp(const mt_conv_params *p, int32_t relu,
                             const mt_dims *xd, const int8_t *x,
                             const mt_dims *fd, const int8_t *w,
                             const int32_t *bias, int32_t bias_shift,
                             const mt_dims *yd, int32_t *acc,
                             uint32_t *spare, int32_t spare_words)
{
    (void)p, (void)relu, (void)xd, (void)x, (void)fd, (void)w, (void)bias, (void)bias_shift;
    (void)yd, (void)acc, (void)spare, (void)spare_words;
    return -1;
}
#endif

int32_t mt_qi_conv2d_acc_fast(const mt_conv_params *p, int32_t relu,
                              const mt_dims *xd, const int8_t *x,
                              const mt_dims *fd, const int8_t *w,
                              const int32_t *bias, int32_t bias_shift,
                              const mt_dims *yd, int32_t *acc)
{
    const int64_t K = (int64_t)fd->h * fd->w * fd->c;
    return q_dyn_shift(K <= PATCH_MAX ? conv_patch(p, relu, xd, x, fd, w, bias, bias_shift, yd, acc)
                                      : conv_rows(p, relu, xd, x, fd, w, bias, bias_shift, yd, acc));
}

int32_t mt_qi_conv2d_dx_fast(const mt_conv_params *p, const mt_dims *xd,
                             const mt_dims *fd, const int8_t *w,
                             const mt_dims *yd, const int8_t *dy, int32_t *acc)
{
    const int32_t H = xd->h, W = xd->w, C = xd->c, O = fd->n, KH = fd->h, KW = fd->w,
                  OH = yd->h, OW = yd->w;
    const int32_t wrow = KW * C, xrow = W * C, fsize = KH * wrow;
    const int64_t count = (int64_t)mt_dims_count(xd);
    for (int64_t i = 0; i < count; i++)
        acc[i] = 0;
    /* Overflow: an input element is read by at most O*KH*KW <= 2^17 - 1 taps. */
    const int8_t *g = dy;
    for (int32_t n = 0; n < xd->n; n++) {
        int32_t *an = acc + (int64_t)n * H * xrow;
        for (int32_t oy = 0; oy < OH; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            int32_t ky0, ky1;
            tap_range(iy0, KH, H, &ky0, &ky1);
            for (int32_t ox = 0; ox < OW; ox++, g += O) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int32_t kx0, kx1;
                tap_range(ix0, KW, W, &kx0, &kx1);
                if (ky0 >= ky1 || kx0 >= kx1)
                    continue;
                const int32_t len = (kx1 - kx0) * C, rows = ky1 - ky0;
                int32_t *a0 = an + (int64_t)(iy0 + ky0) * xrow + (ix0 + kx0) * C;
                const int8_t *w0 = w + ky0 * wrow + kx0 * C;
                for (int32_t o = 0; o < O; o++, w0 += fsize) {
                    const int32_t go = g[o];
                    if (go != 0)
                        q_axpy_rows_s8(a0, xrow, go, w0, wrow, rows, len);
                }
            }
        }
    }
    return q_dyn_shift(mt_qi_abs_or(count, acc));
}

#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
/* a[r*len + i] += g * x[r*xs + i] for r < rows, i < len, len = 4 or 5 (tail = len - 4):
 * per row one unaligned LDR of x split by SXTB16, two LDRD / STRD pairs with SMLABB /
 * SMLATB, and for len 5 one LDRSB / LDR / SMLABB / STR. */
static inline void dw_rows45(int32_t *a, const int8_t *xp, int32_t xs, int32_t rows,
                             int32_t g, int32_t tail)
{
    int32_t t, e, od, a0, a1;
    if (tail) {
        __asm__ volatile(
            "1:\n\t"
            "ldr    %[t], [%[xp]]\n\t"
            "sxtb16 %[e], %[t]\n\t"
            "sxtb16 %[od], %[t], ror #8\n\t"
            "ldrd   %[a0], %[a1], [%[a]]\n\t"
            "smlabb %[a0], %[e], %[g], %[a0]\n\t"
            "smlabb %[a1], %[od], %[g], %[a1]\n\t"
            "strd   %[a0], %[a1], [%[a]], #8\n\t"
            "ldrd   %[a0], %[a1], [%[a]]\n\t"
            "smlatb %[a0], %[e], %[g], %[a0]\n\t"
            "smlatb %[a1], %[od], %[g], %[a1]\n\t"
            "strd   %[a0], %[a1], [%[a]], #8\n\t"
            "ldrsb  %[t], [%[xp], #4]\n\t"
            "ldr    %[a0], [%[a]]\n\t"
            "smlabb %[a0], %[t], %[g], %[a0]\n\t"
            "str    %[a0], [%[a]], #4\n\t"
            "add    %[xp], %[xp], %[xs]\n\t"
            "subs   %[rows], %[rows], #1\n\t"
            "bne    1b\n\t"
            : [a] "+r"(a), [xp] "+r"(xp), [rows] "+r"(rows), [t] "=&r"(t), [e] "=&r"(e),
              [od] "=&r"(od), [a0] "=&r"(a0), [a1] "=&r"(a1)
            : [g] "r"(g), [xs] "r"(xs)
            : "cc", "memory");
    } else {
        __asm__ volatile(
            "1:\n\t"
            "ldr    %[t], [%[xp]]\n\t"
            "sxtb16 %[e], %[t]\n\t"
            "sxtb16 %[od], %[t], ror #8\n\t"
            "ldrd   %[a0], %[a1], [%[a]]\n\t"
            "smlabb %[a0], %[e], %[g], %[a0]\n\t"
            "smlabb %[a1], %[od], %[g], %[a1]\n\t"
            "strd   %[a0], %[a1], [%[a]], #8\n\t"
            "ldrd   %[a0], %[a1], [%[a]]\n\t"
            "smlatb %[a0], %[e], %[g], %[a0]\n\t"
            "smlatb %[a1], %[od], %[g], %[a1]\n\t"
            "strd   %[a0], %[a1], [%[a]], #8\n\t"
            "add    %[xp], %[xp], %[xs]\n\t"
            "subs   %[rows], %[rows], #1\n\t"
            "bne    1b\n\t"
            : [a] "+r"(a), [xp] "+r"(xp), [rows] "+r"(rows), [t] "=&r"(t), [e] "=&r"(e),
              [od] "=&r"(od), [a0] "=&r"(a0), [a1] "=&r"(a1)
            : [g] "r"(g), [xs] "r"(xs)
            : "cc", "memory");
    }
}

/* dW for filter rows of 4 or 5 bytes (KW*C; LeNet's first conv: 5x5, C = 1): such
 * rows are too short for a loop per row, so each non-zero dy updates its whole
 * KH x len dW block in one dw_rows45. Windows clipped by padding take the general row
 * update. dw is zeroed by the caller. The loop nest repeats mt_qi_conv2d_dw_fast's on
 * purpose: merged (a flag, or one always-inline body specialised twice), gcc allocates
 * registers worse and a LeNet-5 step costs 7,000 to 29,000 instructions more. */
static void dw_short_rows(const mt_conv_params *p, const mt_dims *xd, const int8_t *x,
                          const mt_dims *fd, const mt_dims *yd, const int8_t *dy,
                          int32_t o_begin, int32_t o_end, int32_t *dw, int32_t *db)
{
    const int32_t H = xd->h, W = xd->w, C = xd->c, O = fd->n, KH = fd->h, KW = fd->w,
                  OH = yd->h, OW = yd->w;
    const int32_t len = KW * C, xrow = W * C, fsize = KH * len;
    for (int32_t o = o_begin; o < o_end; o++) {
        int32_t *dwo = dw + (int64_t)(o - o_begin) * fsize;
        int32_t bsum = 0;
        const int8_t *g = dy + o;
        for (int32_t n = 0; n < xd->n; n++) {
            const int8_t *xn = x + (int64_t)n * H * xrow;
            for (int32_t oy = 0; oy < OH; oy++) {
                const int32_t iy0 = oy * p->stride_h - p->pad_top;
                int32_t ky0, ky1;
                tap_range(iy0, KH, H, &ky0, &ky1);
                for (int32_t ox = 0; ox < OW; ox++, g += O) {
                    const int32_t go = *g;
                    if (go == 0)
                        continue;
                    bsum += go;
                    const int32_t ix0 = ox * p->stride_w - p->pad_left;
                    int32_t kx0, kx1;
                    tap_range(ix0, KW, W, &kx0, &kx1);
                    if (ky0 >= ky1 || kx0 >= kx1)
                        continue;
                    const int8_t *xp = xn + (int64_t)(iy0 + ky0) * xrow + (ix0 + kx0) * C;
                    if (ky0 > 0 || ky1 < KH || kx0 > 0 || kx1 < KW)
                        q_axpy_rows_s8(dwo + ky0 * len + kx0 * C, len, go, xp, xrow,
                                       ky1 - ky0, (kx1 - kx0) * C);
                    else
                        dw_rows45(dwo, xp, xrow, KH, go, len - 4);
                }
            }
        }
        if (db)
            db[o - o_begin] = bsum;
    }
}
#endif

void mt_qi_conv2d_dw_fast(const mt_conv_params *p, const mt_dims *xd, const int8_t *x,
                          const mt_dims *fd, const mt_dims *yd, const int8_t *dy,
                          int32_t o_begin, int32_t o_end, int32_t *dw, int32_t *db)
{
    const int32_t H = xd->h, W = xd->w, C = xd->c, O = fd->n, KH = fd->h, KW = fd->w,
                  OH = yd->h, OW = yd->w;
    const int32_t wrow = KW * C, xrow = W * C, fsize = KH * wrow;
    for (int64_t i = 0; i < (int64_t)(o_end - o_begin) * fsize; i++)
        dw[i] = 0;
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
    if (wrow == 4 || wrow == 5) {
        dw_short_rows(p, xd, x, fd, yd, dy, o_begin, o_end, dw, db);
        return;
    }
#endif
    /* Overflow: every sum has N*OH*OW <= 2^17 - 1 terms, |dy| <= 2^7, |dy*x| <= 2^14. */
    for (int32_t o = o_begin; o < o_end; o++) {
        int32_t *dwo = dw + (int64_t)(o - o_begin) * fsize;
        int32_t bsum = 0;
        const int8_t *g = dy + o;
        for (int32_t n = 0; n < xd->n; n++) {
            const int8_t *xn = x + (int64_t)n * H * xrow;
            for (int32_t oy = 0; oy < OH; oy++) {
                const int32_t iy0 = oy * p->stride_h - p->pad_top;
                int32_t ky0, ky1;
                tap_range(iy0, KH, H, &ky0, &ky1);
                for (int32_t ox = 0; ox < OW; ox++, g += O) {
                    const int32_t go = *g;
                    if (go == 0)
                        continue;
                    bsum += go;
                    const int32_t ix0 = ox * p->stride_w - p->pad_left;
                    int32_t kx0, kx1;
                    tap_range(ix0, KW, W, &kx0, &kx1);
                    if (ky0 >= ky1 || kx0 >= kx1)
                        continue;
                    const int8_t *xp = xn + (int64_t)(iy0 + ky0) * xrow + (ix0 + kx0) * C;
                    q_axpy_rows_s8(dwo + ky0 * wrow + kx0 * C, wrow, go, xp, xrow, ky1 - ky0,
                                   (kx1 - kx0) * C);
                }
            }
        }
        if (db)
            db[o - o_begin] = bsum;
    }
}
