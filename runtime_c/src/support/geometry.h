/* geometry.h - the conv and pooling window checks shared by the float and int8
 * kernels (internal). Each validates parameters (MT_ERR_ARG) then dims
 * (MT_ERR_SHAPE); callers check their pointers first. */
#ifndef MT_GEOMETRY_H
#define MT_GEOMETRY_H

#include <stdint.h>
#include "mt/mt_status.h"
#include "mt/mt_types.h"

/* Every size a convolution loop needs, read once from validated arguments. */
typedef struct {
    int32_t N, H, W, C;        /* input                                   */
    int32_t KH, KW, CG;        /* filter; CG = input channels per group   */
    int32_t OH, OW, O, OG;     /* output; OG = output channels per group  */
    int32_t sh, sw, pt, pl, dh, dw;
} mt_conv_shape;

/* in (N,H,W,C), filter (O,KH,KW,C/groups), out (N,OH,OW,O) against the geometry;
 * on MT_OK fills *shape. */
mt_status mt_conv_geometry(const mt_conv_params *p, const mt_dims *in, const mt_dims *filter,
                           const mt_dims *out, mt_conv_shape *shape);

/* in (N,H,W,C) -> out (N,OH,OW,C) for a pooling window. Each pad must be smaller
 * than the kernel (as ONNX Runtime requires), so no window lies wholly in the
 * padding. */
mt_status mt_pool_geometry(const mt_pool_params *p, const mt_dims *in, const mt_dims *out);

/* One axis of a pooling window starting at `start` (may be negative): it reaches
 * stop = min(start + kernel, size + pad_end), so it spans *padded = stop - start
 * positions (the average's divisor with count_include_pad); clipped to the real
 * input it is [*begin, *end). */
void mt_pool_window(int32_t start, int32_t kernel, int32_t size, int32_t pad_end,
                    int32_t *begin, int32_t *end, int32_t *padded);

/* Linear (fully connected) shapes, forward and backward: x (N, h, w, c) with
 * h*w*c == K, W (O,1,1,K), y (N,1,1,O). MT_OK or MT_ERR_SHAPE. */
mt_status mt_linear_dims(const mt_dims *in_dims, const mt_dims *weight_dims,
                         const mt_dims *out_dims);

#endif /* MT_GEOMETRY_H */
