/* f32_reference.h - the reference twins of the blocked float32 forward kernels
 * (internal; for tests).
 *
 * mt_conv2d_f32 and mt_linear_f32 run register-blocked loops and mt_maxpool2d_f32
 * a 2x2-window loop where the geometry allows; these entry points take the same
 * arguments, validate the same way and always run the simple loop. Both paths
 * add (or compare) the same terms in the same order (see the kernels' file
 * comments), so their results are bit-identical.                            */
#ifndef MT_F32_REFERENCE_H
#define MT_F32_REFERENCE_H

#include "mt/mt_f32.h"

mt_status mt_conv2d_f32_reference(const mt_conv_params *params, const mt_range_f32 *act,
                                  const mt_dims *in_dims, const float *in,
                                  const mt_dims *filter_dims, const float *filter,
                                  const float *bias,
                                  const mt_dims *out_dims, float *out);

mt_status mt_linear_f32_reference(const mt_range_f32 *act,
                                  const mt_dims *in_dims, const float *in,
                                  const mt_dims *weight_dims, const float *weight,
                                  const float *bias,
                                  const mt_dims *out_dims, float *out);

mt_status mt_maxpool2d_f32_reference(const mt_pool_params *params,
                                     const mt_dims *in_dims, const float *in,
                                     const mt_dims *out_dims, float *out);

#endif /* MT_F32_REFERENCE_H */
