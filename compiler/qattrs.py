"""The `q` records: integer parameters that define the arithmetic of quantized nodes (docs/quantization.md).

Each record is a frozen dataclass of ints and tuples of ints, set by `lower_integer` from the tensors' scales with
`edgelower.quant`, and read by the integer interpreter, the int8 C kernels and the .tflite export. No record holds
a float: the integer graph computes without one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RequantQ:
    """REQUANTIZE: out = clamp(MultiplyByQuantizedMultiplier(x + input_offset, M[c], s[c]) + output_offset).

    One (multiplier, shift) pair per tensor, or one per channel along `axis`."""

    multiplier: tuple[int, ...]
    shift: tuple[int, ...]
    output_offset: int
    input_offset: int = 0
    act_min: int = -128
    act_max: int = 127
    axis: int | None = None
