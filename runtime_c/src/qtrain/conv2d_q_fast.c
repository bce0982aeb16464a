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
 * Integer sums are exact (the overflow bounds of conv2d_q.c hold for every partial
 * sum, all terms being bounded by the same count), so the results equal the reference
 * twins in conv2d_q.c bit for bit (tests/c/test_qtrain_fast.c). */
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
                const int32_t len = (kx1 - kx0) * C;
                int32_t *a0 = an + (int64_t)(iy0 + ky0) * xrow + (ix0 + kx0) * C;
                const int8_t *w0 = w + ky0 * wrow + kx0 * C;
                for (int32_t o = 0; o < O; o++, w0 += fsize) {
                    const int32_t go = g[o];
                    if (go == 0)
                        continue;
                    int32_t *ar = a0;
                    const int8_t *wr = w0;
                    for (int32_t ky = ky0; ky < ky1; ky++, ar += xrow, wr += wrow)
                        q_axpy_s8(ar, go, wr, len);
                }
            }
        }
    }
    return q_dyn_shift(mt_qi_abs_or(count, acc));
}

void mt_qi_conv2d_dw_fast(const mt_conv_params *p, const mt_dims *xd, const int8_t *x,
                          const mt_dims *fd, const mt_dims *yd, const int8_t *dy,
                          int32_t o_begin, int32_t o_end, int32_t *dw, int32_t *db)
{
    const int32_t H = xd->h, W = xd->w, C = xd->c, O = fd->n, KH = fd->h, KW = fd->w,
                  OH = yd->h, OW = yd->w;
    const int32_t wrow = KW * C, xrow = W * C, fsize = KH * wrow;
    for (int64_t i = 0; i < (int64_t)(o_end - o_begin) * fsize; i++)
        dw[i] = 0;
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
                    const int32_t len = (kx1 - kx0) * C;
                    const int8_t *xp = xn + (int64_t)(iy0 + ky0) * xrow + (ix0 + kx0) * C;
                    int32_t *dr = dwo + ky0 * wrow + kx0 * C;
                    for (int32_t ky = ky0; ky < ky1; ky++, xp += xrow, dr += wrow)
                        q_axpy_s8(dr, go, xp, len);
                }
            }
        }
        if (db)
            db[o - o_begin] = bsum;
    }
}
