"""Converters for the quantize / dequantize ops of torchao's PT2E flow (`prepare_pt2e` / `convert_pt2e`), merged
into `edgelower.frontend.aten_ops.ATEN_TO_IR`.

A converted PT2E model computes in float between `quantized_decomposed` quantize/dequantize pairs: every quantized
activation x appears as dequantize_per_tensor(quantize_per_tensor(x, scale, zp)), every weight as
dequantize_per_channel(int8 constant, scales, zero points, axis). Capture keeps the model's float ops and records
those parameters on the tensors instead of emitting float arithmetic: x's TensorType gets QParams(scale, zp), a
weight becomes its dequantized float32 constant with per-channel QParams. That is exactly what the `quantize` pass
would have annotated, so quantize="int8" needs no calibration, and `lower_integer` turns the parameters into the
integer graph (re-quantizing a dequantized weight gives back its int8 values exactly: every int8 q survives
(q * s) / s in float32 / float64). A weight with zero point 0 takes TFLite's symmetric range (`QParams.narrow`).

Activation parameters must span a full 8-bit range: int8's as TFLite uses, or uint8's (the x86 quantizers), whose
zero point moves down by the difference of their minimums with the same scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgelower.ir.graph import DType, QParams
from edgelower.frontend.lowering import Lowering, Unlowerable

# torch dtype -> (qmin, qmax, zero point shift onto int8)
_FULL_RANGE = {f"torch.{t.value}": (t.min, t.max, DType.INT8.min - t.min) for t in (DType.INT8, DType.UINT8)}


@dataclass(frozen=True)
class Quantized:
    """The value of quantize_per_tensor: no IR value of its own, only the float value and its parameters, which
    the dequantize_per_tensor that reads it records. Any other reader is unsupported."""

    value: str
    qparams: QParams


def _scalar(cx: Lowering, value) -> float:
    """A scale or zero point given as a Python number (the .default overloads) or a 0-d constant (.tensor)."""
    if isinstance(value, str):
        data = cx.data(value)
        if data is None or data.size != 1:
            raise Unlowerable("quantization parameters computed at run time")
        return float(data.reshape(()))
    return float(value)


def _int8_zero_point(zero_point: float, qmin: int, qmax: int, dtype) -> int:
    key = str(dtype)
    if key not in _FULL_RANGE or _FULL_RANGE[key][:2] != (qmin, qmax):
        raise Unlowerable(f"quantization to {dtype} [{qmin}, {qmax}] (edgelower takes full-range int8 or uint8)")
    return int(zero_point) + _FULL_RANGE[key][2]


def _quantize_per_tensor(cx: Lowering, x, scale, zero_point, quant_min, quant_max, dtype):
    zp = _int8_zero_point(_scalar(cx, zero_point), quant_min, quant_max, dtype)
    return Quantized(x, QParams((float(np.float32(_scalar(cx, scale))),), (zp,)))


def _dequantize_per_tensor(cx: Lowering, x, scale, zero_point, quant_min, quant_max, dtype, out_dtype=None):
    """Of a Quantized activation: the float value, now carrying the parameters. Of an integer constant (a per-tensor
    weight): its dequantized float32 data with those parameters."""
    if isinstance(x, Quantized):
        cx.annotate(x.value, x.qparams)
        return x.value
    data = cx.data(x)
    if data is None:
        raise Unlowerable("dequantizing an integer tensor computed at run time")
    if str(dtype) != "torch.int8":
        raise Unlowerable(f"weights of {dtype} (edgelower takes int8)")
    scale, zp = float(np.float32(_scalar(cx, scale))), int(_scalar(cx, zero_point))
    weights = (data.astype(np.float32) - np.float32(zp)) * np.float32(scale)
    return cx.const(weights.astype(np.float32), qparams=_weight_qparams((scale,), (zp,), None))


def _dequantize_per_channel(cx: Lowering, x, scales, zero_points, axis, quant_min, quant_max, dtype,
                            out_dtype=None):
    """An int8 weight constant -> its float32 values (torch's (q - zp) * scale along `axis`), with per-channel
    QParams on the axis."""
    data, s, z = cx.data(x), cx.data(scales), cx.data(zero_points)
    if data is None or s is None or z is None:
        raise Unlowerable("per-channel dequantization of values computed at run time")
    if str(dtype) != "torch.int8":
        raise Unlowerable(f"per-channel weights of {dtype} (edgelower takes int8)")
    axis = cx.axis(axis, data.ndim)
    shape = [1] * data.ndim
    shape[axis] = -1
    s32 = s.astype(np.float32)
    weights = (data.astype(np.float32) - z.astype(np.float32).reshape(shape)) * s32.reshape(shape)
    qparams = _weight_qparams(tuple(float(v) for v in s32), tuple(int(v) for v in z), axis)
    return cx.const(weights.astype(np.float32), qparams=qparams)


def _weight_qparams(scales: tuple[float, ...], zero_points: tuple[int, ...], axis: int | None) -> QParams:
    """Symmetric weights (zero point 0) take TFLite's symmetric range; the others all of int8."""
    symmetric = not any(zero_points)
    return (QParams.narrow if symmetric else QParams)(scales, zero_points, axis)


QUANT_OPS = {
    "quantized_decomposed.quantize_per_tensor.default": _quantize_per_tensor,
    "quantized_decomposed.quantize_per_tensor.tensor": _quantize_per_tensor,
    "quantized_decomposed.dequantize_per_tensor.default": _dequantize_per_tensor,
    "quantized_decomposed.dequantize_per_tensor.tensor": _dequantize_per_tensor,
    "quantized_decomposed.dequantize_per_channel.default": _dequantize_per_channel,
}
