/* backward_ref_f32.h - the reference twins of the optimised float training kernels
 * (internal).
 *
 * Each public backward kernel / optimizer step with a fast path keeps its plain
 * loop as a reference: the public function uses the reference itself for the
 * geometries its fast path does not cover (grouped or dilated convolutions, SGD with
 * momentum or weight decay), and the functions below always run it, so tests can
 * compare the two (tests/c/test_backward_fast.c). Same arguments, checks and
 * results (up to the float summation order, which each fast path documents) as the
 * public function of the same name without _ref.
 */
#ifndef MT_BACKWARD_REF_F32_H
#define MT_BACKWARD_REF_F32_H

#include <stdint.h>
#include "mt/mt_status.h"
#include "mt/mt_types.h"

mt_status mt_conv2d_f32_backward_ref(const mt_conv_params *params,
                                     const mt_dims *in_dims, const float *in,
                                     const mt_dims *filter_dims, const float *filter,
                                     const mt_dims *out_dims, const float *d_out,
                                     float *d_in, float *d_filter, float *d_bias);

mt_status mt_conv2d_f32_backward_params_ref(const mt_conv_params *params,
                                            const mt_dims *in_dims, const float *in,
                                            const mt_dims *filter_dims,
                                            const mt_dims *out_dims, const float *d_out,
                                            int32_t o_begin, int32_t o_end,
                                            float *d_filter, float *d_bias);

mt_status mt_linear_f32_backward_ref(const mt_dims *in_dims, const float *in,
                                     const mt_dims *weight_dims, const float *weight,
                                     const mt_dims *out_dims, const float *d_out,
                                     float *d_in, float *d_weight, float *d_bias);

mt_status mt_linear_f32_backward_params_ref(const mt_dims *in_dims, const float *in,
                                            const mt_dims *weight_dims,
                                            const mt_dims *out_dims, const float *d_out,
                                            int32_t o_begin, int32_t o_end,
                                            float *d_weight, float *d_bias);

mt_status mt_maxpool2d_f32_backward_ref(const mt_pool_params *params,
                                        const mt_dims *in_dims, const float *in,
                                        const mt_dims *out_dims, const float *d_out,
                                        float *d_in);

mt_status mt_sgd_step_f32_ref(const mt_sgd_params *params, int32_t step, int32_t size,
                              float *param, const float *grad, float *momentum_buf);

#endif /* MT_BACKWARD_REF_F32_H */
