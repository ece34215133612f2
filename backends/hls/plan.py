"""The vocabulary of layer planning (layers.py): what a layer's kernel calls are made of (Rom, Call), what the
estimate counts (Work), the plan of one node (LayerPlan), the Context a builder reads, and the checks and
argument helpers the builders share. Nothing here is a float: every number comes from a `q` record or a shape."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np

from edgelower.ir.graph import DType, Node, TensorType
from edgelower.ir.ops import complete_attrs
from edgelower.quant.records import ConvQ, RequantQ

INT8, INT32 = DType.INT8, DType.INT32

MAX_DIMS = 6


@dataclass(frozen=True)
class Rom:
    """A compile-time table a kernel reads: `ctype` is el::rom8, el::rom32 or int."""

    hint: str
    ctype: str
    values: tuple[int, ...]
    what: str

    @property
    def bits(self) -> int:
        return len(self.values) * (8 if self.ctype == "el::rom8" else 32)


@dataclass(frozen=True)
class Call:
    """`kernel<config, types...>(args...)`; an argument is a value name (str) or a Rom."""

    kernel: str
    config: Any
    args: tuple[Any, ...]
    types: tuple[str, ...] = ()       # template arguments after the config (element types)


@dataclass(frozen=True)
class Work:
    """What the estimate counts: the pipelined loop runs `positions` iterations at II = reuse factor, each doing
    `macs` 10x10-bit products, `wide` 32x32-bit products and `divides` integer divisions, spread over
    ceil(x / reuse) units. `reuse_max` is the largest useful reuse factor (the most work of one position)."""

    positions: int
    macs: int = 0
    wide: int = 0
    divides: int = 0
    depth: int = 2

    @property
    def reuse_max(self) -> int:
        return max(1, self.macs, self.wide, self.divides)


@dataclass(frozen=True)
class LayerPlan:
    node: Node
    calls: tuple[Call, ...]
    stream: Call | None
    work: Work

    def with_reuse(self, reuse: int) -> "LayerPlan":
        def set_reuse(call: Call) -> Call:
            return replace(call, config=replace(call.config, reuse_factor=reuse))
        return replace(self, calls=tuple(map(set_reuse, self.calls)),
                       stream=None if self.stream is None else set_reuse(self.stream))


class Refused(Exception):
    """This node has no HLS kernel; the message says why (raised inside builders, answered by `unsupported`)."""


@dataclass(frozen=True)
class Context:
    node: Node
    types: Mapping[str, TensorType]
    constants: Mapping[str, Any]      # constant name -> data (None where the data is not at hand)

    @property
    def attrs(self) -> dict[str, Any]:
        return complete_attrs(self.node.op, self.node.attrs)

    def type(self, i: int) -> TensorType:
        return self.types[self.node.inputs[i]]

    @property
    def out(self) -> TensorType:
        return self.types[self.node.output]

    def is_constant(self, i: int) -> bool:
        return self.node.inputs[i] in self.constants

    def rom(self, hint: str, ctype: str, values, what: str) -> Rom:
        return Rom(f"{hint}_{self.node.name}", ctype, tuple(int(v) for v in np.asarray(values).reshape(-1)), what)

    def record(self, *kinds: type):
        q = self.node.attrs.get("q")
        if not isinstance(q, kinds):
            raise Refused(f"expects a {' or '.join(k.__name__ for k in kinds)} record, has {type(q).__name__}")
        return q


ELEMENT = {INT8: "el::i8", INT32: "el::i32"}


def element(t: TensorType) -> str:
    if t.dtype not in ELEMENT:
        raise Refused(f"{t.dtype.value} tensors have no HLS element type (int8 and int32 only)")
    return ELEMENT[t.dtype]


def requant_fields(k: Context, rq: RequantQ | None, channels: int) -> tuple[dict, Rom, Rom]:
    if rq is None:
        return {}, k.rom("mult", "el::rom32", [0], "unused: int32 output"), k.rom("shift", "int", [0], "unused")
    if len(rq.multiplier) > 1 and len(rq.multiplier) != channels:
        raise Refused(f"{len(rq.multiplier)} requantization pairs for {channels} output channels")
    if not all(-31 <= s <= 31 for s in rq.shift):
        raise Refused(f"requantization shifts {rq.shift} outside [-31, 31]")
    fields = dict(per_channel=len(rq.multiplier) > 1, rq_input_offset=rq.input_offset,
                  output_offset=rq.output_offset, act_min=rq.act_min, act_max=rq.act_max)
    return (fields, k.rom("mult", "el::rom32", rq.multiplier, "requantization multipliers (Q31)"),
            k.rom("shift", "int", rq.shift, "requantization shifts"))


def accumulating(k: Context, channel_axis: int) -> tuple[ConvQ, dict, Rom, Rom]:
    q = k.record(ConvQ)
    rq = q.requant
    if rq is None and k.out.dtype is not INT32:
        raise Refused(f"an unfused accumulator is int32, the output is {k.out.dtype.value}")
    if rq is not None:
        if k.out.dtype is not INT8:
            raise Refused("a fused requantization writes int8")
        if len(rq.multiplier) > 1 and rq.axis != channel_axis:
            raise Refused(f"per-channel requantization along axis {rq.axis}, the kernel's channels are axis "
                          f"{channel_axis}")
    fields, mult, shift = requant_fields(k, rq, k.out.shape[channel_axis])
    return q, fields, mult, shift


def require_constants(k: Context, *positions: int) -> None:
    for i in positions:
        if i < len(k.node.inputs) and not k.is_constant(i):
            raise Refused(f"input {i} (%{k.node.inputs[i]}) must be a constant (weights are ROM arrays)")


def bias_arg(k: Context, index: int, count: int) -> Any:
    return k.node.inputs[index] if index < len(k.node.inputs) else k.rom("bias", "el::rom32", [0] * count,
                                                                           "no bias: zeros")


def line_buffer(in_h: int, out_h: int, kernel_h: int, stride_h: int, dilation_h: int, pad_top: int) -> dict:
    span = (kernel_h - 1) * dilation_h + 1
    triggers = [min(max(oy * stride_h - pad_top + span - 1, 0), in_h - 1) for oy in range(out_h)]
    return dict(span_h=min(span, in_h), rows_per_trigger=max(triggers.count(t) for t in set(triggers)))

def array_type(k: Context, i: int) -> str:
    """The element type of input i as a kernel sees it: a ROM type for a constant."""
    if k.is_constant(i):
        return "el::rom8" if k.type(i).dtype is INT8 else "el::rom32"
    return element(k.type(i))


def require_int8_unary(k: Context) -> None:
    if k.type(0).dtype is not INT8 or k.out.dtype is not INT8:
        raise Refused("the int8 kernel reads and writes int8")
    if k.is_constant(0):
        raise Refused("a constant input: fold it before compiling")


def strides_of(shape) -> list[int]:
    out, step = [], 1
    for d in reversed(shape):
        out.append(step)
        step *= d
    return out[::-1]
