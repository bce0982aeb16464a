"""The int8 (fixed-point inference) side of pyconvert, in Python.

- ``pyconvert.quant.int_reference``: numpy integer implementations of every int8
  kernel of runtime_c (mt_s8.h), bit-exact: the oracle the C kernels are tested
  against, and the one rounding rule (``requantize``) in Python.
- ``pyconvert.quant.scales``: the float-side helpers the converter uses offline:
  scales and zero points, Q31 multipliers, weight/bias quantization, and the
  lookup tables of sigmoid, tanh and softmax.
- ``calibrate`` (observe activation ranges: minmax / percentile), ``ptq``
  (post-training quantization of an optimized IR graph), ``lower_s8`` (the int8
  device schedule), ``int_model`` (the whole int8 model on the integer reference,
  per-layer SQNR), ``report`` (the int8 part of the conversion report).
"""

from . import int_reference, scales
from .int_reference import requantize
from .scales import (choose_qparams, lut_table, quantize_multiplier, sigmoid_table,
                     softmax_exp_table, symmetric_weight_scales, tanh_table)

__all__ = ["int_reference", "scales", "requantize", "choose_qparams", "lut_table",
           "quantize_multiplier", "sigmoid_table", "softmax_exp_table",
           "symmetric_weight_scales", "tanh_table"]
