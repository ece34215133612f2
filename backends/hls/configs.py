"""Typed per-layer configuration records, rendered as C++ structs of `static constexpr` members that the kernels in
runtime/hls/ are templated over (hls4ml's idea: one config struct per layer; here the structs are written from frozen
dataclasses, field for field, never from format strings).

A record field is an int or a bool; `render_config` gives each the narrowest C++ type that holds it (int, or long long
past 32 bits), so the same record always renders to the same bytes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from edgelower.backends.writer import CodeWriter
from edgelower.ir.graph import DType

INT32 = (-(2 ** 31), 2 ** 31 - 1)


def _member(name: str, value) -> str:
    if isinstance(value, bool):
        return f"static constexpr bool {name} = {'true' if value else 'false'}"
    if not isinstance(value, int):
        raise TypeError(f"config field {name} = {value!r}: records hold ints and bools only")
    if INT32[0] <= value <= INT32[1]:
        return f"static constexpr int {name} = {value}"
    return f"static constexpr long long {name} = {value}LL"


def render_config(w: CodeWriter, name: str, record, comment: str) -> None:
    """`struct name { static constexpr ... };` with one member per field of `record`, in field order."""
    w.comment(comment)
    with w.block(f"struct {name}", "};"):
        for f in dataclasses.fields(record):
            w.statement(_member(f.name, getattr(record, f.name)))


@dataclass(frozen=True)
class RequantFields:
    """The requantization a fused kernel applies per output (ConvQ.requant), or none (per_channel False, an
    int32 output): its multipliers and shifts travel as ROM arrays."""

    per_channel: bool = False
    rq_input_offset: int = 0
    output_offset: int = 0
    act_min: int = DType.INT8.min
    act_max: int = DType.INT8.max


@dataclass(frozen=True)
class Conv2dConfig(RequantFields):
    batch: int = 1
    in_channels: int = 1
    in_h: int = 1
    in_w: int = 1
    out_channels: int = 1
    out_h: int = 1
    out_w: int = 1
    kernel_h: int = 1
    kernel_w: int = 1
    stride_h: int = 1
    stride_w: int = 1
    dilation_h: int = 1
    dilation_w: int = 1
    pad_top: int = 0
    pad_left: int = 0
    groups: int = 1
    input_offset: int = 0
    weight_offset: int = 0
    reuse_factor: int = 1
    span_h: int = 1             # io_stream: input rows the line buffer holds, (kernel_h - 1) * dilation_h + 1
    rows_per_trigger: int = 1   # io_stream: the most output rows one input row completes


@dataclass(frozen=True)
class LinearConfig(RequantFields):
    rows: int = 1
    in_features: int = 1
    out_features: int = 1
    input_offset: int = 0
    weight_offset: int = 0
    reuse_factor: int = 1


@dataclass(frozen=True)
class MatmulConfig(RequantFields):
    batch: int = 1
    m: int = 1
    k: int = 1
    n: int = 1
    input_offset: int = 0
    weight_offset: int = 0
    reuse_factor: int = 1


@dataclass(frozen=True)
class RequantizeConfig:
    count: int
    inner: int
    channels: int
    per_channel: bool
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int
    reuse_factor: int = 1


BINARY_OPS = ("ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM")   # el::BinaryOp, in order


@dataclass(frozen=True)
class BinaryConfig:
    op: int                     # index into BINARY_OPS
    count: int
    ndim: int
    input1_offset: int = 0
    input2_offset: int = 0
    left_shift: int = 0
    input1_multiplier: int = 0
    input1_shift: int = 0
    input2_multiplier: int = 0
    input2_shift: int = 0
    output_multiplier: int = 0
    output_shift: int = 0
    output_offset: int = 0
    act_min: int = DType.INT8.min
    act_max: int = DType.INT8.max
    reuse_factor: int = 1


@dataclass(frozen=True)
class UnaryConfig:
    """clamp (act_min, act_max) and table (a 256-entry ROM) over `count` elements."""

    count: int
    act_min: int = DType.INT8.min
    act_max: int = DType.INT8.max
    reuse_factor: int = 1


@dataclass(frozen=True)
class Pool2dConfig:
    planes: int
    channels: int
    in_h: int
    in_w: int
    out_h: int
    out_w: int
    kernel_h: int
    kernel_w: int
    stride_h: int
    stride_w: int
    dilation_h: int
    dilation_w: int
    pad_top: int
    pad_left: int
    is_max: bool
    act_min: int
    act_max: int
    reuse_factor: int = 1
    span_h: int = 1
    rows_per_trigger: int = 1


@dataclass(frozen=True)
class ReduceConfig:
    """MEAN / REDUCE_MAX: outer x inner outputs, each of `reduced` elements (io_parallel: outer outputs, inner 1,
    index tables; mean_stream: [batch, pixels, channels]); MEAN's multiplier has 1/reduced folded in."""

    outer: int
    reduced: int
    inner: int
    recentre: int = 0
    multiplier: int = 0
    shift: int = 0
    output_offset: int = 0
    reuse_factor: int = 1


@dataclass(frozen=True)
class SoftmaxConfig:
    outer: int
    axis: int
    inner: int
    input_multiplier: int
    input_left_shift: int
    diff_min: int
    reuse_factor: int = 1


@dataclass(frozen=True)
class ISoftmaxConfig:
    outer: int
    axis: int
    inner: int
    exp_multiplier: int
    diff_limit: int
    poly_a: int
    poly_b: int
    reuse_factor: int = 1


@dataclass(frozen=True)
class LayerNormConfig:
    rows: int
    cols: int
    variance_shift: int
    epsilon: int
    norm_shift: int
    weight_shift: int
    output_offset: int
    reuse_factor: int = 1


@dataclass(frozen=True)
class CopyConfig:
    count: int
    ndim: int
    out_base: int
    fill: int = 0
    reuse_factor: int = 1
