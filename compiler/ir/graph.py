"""The typed graph IR every pass and backend works on.

A Graph is a value: frozen dataclasses, attributes in read-only mappings, constants as read-only numpy arrays or
packed values (edgelower.ir.packed) whose decode is their dense array.
Values are named by strings (SSA: each name is defined once, by a graph input, a constant or one node output).
Node order in `Graph.nodes` is a topological order; passes keep it so.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, is_dataclass, replace
from types import MappingProxyType
from typing import Any, Iterable, Mapping

import numpy as np

from edgelower.ir.packed import Packed, dense


class DType(enum.Enum):
    """Element types. `bits` is the storage width of one element; an integer type's range follows from its width
    and signedness (`min`, `max`): this is the one place that defines the int8 range, [-2**7, 2**7 - 1].

    Sub-byte types (INT4, INT2: low-bit and ternary weights) have no byte layout of their own: their values live
    unpacked in int8 arrays (`numpy`) and bytes are counted only for packed constants, so `itemsize` refuses them.
    BOOL holds 0 or 1 in one byte, as numpy and the C runtime store it."""

    FLOAT32 = "float32"
    BOOL = "bool"
    INT2 = "int2"
    INT4 = "int4"
    INT8 = "int8"
    UINT8 = "uint8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"

    @property
    def bits(self) -> int:
        return _BITS[self]

    @property
    def is_float(self) -> bool:
        return self is DType.FLOAT32

    @property
    def is_integer(self) -> bool:
        """Two's-complement or unsigned integers (not BOOL, not FLOAT32)."""
        return self not in (DType.FLOAT32, DType.BOOL)

    @property
    def signed(self) -> bool:
        return self not in (DType.BOOL, DType.UINT8)

    @property
    def min(self) -> int:
        """The smallest value of an integer (or BOOL) type."""
        self._check_integral()
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        """The largest value of an integer (or BOOL) type."""
        self._check_integral()
        if self is DType.BOOL:
            return 1
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def numpy(self) -> np.dtype:
        """The numpy type holding this type's values: sub-byte values unpacked, one per int8."""
        return np.dtype("int8" if self.bits < 8 and self is not DType.BOOL else self.value)

    @property
    def itemsize(self) -> int:
        if self.bits < 8:
            raise ValueError(f"{self.value} has no byte layout of its own: its values are stored packed")
        return self.bits // 8

    @classmethod
    def of(cls, dtype: Any) -> "DType":
        return cls(np.dtype(dtype).name)

    def _check_integral(self) -> None:
        if self.is_float:
            raise ValueError(f"{self.value} has no integer range")


_BITS = {DType.FLOAT32: 32, DType.BOOL: 8, DType.INT2: 2, DType.INT4: 4, DType.INT8: 8, DType.UINT8: 8,
         DType.INT16: 16, DType.INT32: 32, DType.INT64: 64}


@dataclass(frozen=True)
class QParams:
    """Affine quantization: real = (q - zero_point) * scale. Per tensor (one scale) or per `axis`.

    [qmin, qmax] is the range quantized values take: int8's by default (activations), int8's symmetric range
    [-max, max] for TFLite's weights (`narrow`), int32's for biases (`for_dtype`)."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int | None = None
    qmin: int = DType.INT8.min
    qmax: int = DType.INT8.max

    @classmethod
    def for_dtype(cls, dtype: DType, scale, zero_point, axis: int | None = None) -> "QParams":
        """Parameters whose range is all of `dtype`."""
        return cls(tuple(scale), tuple(zero_point), axis, dtype.min, dtype.max)

    @classmethod
    def narrow(cls, scale, zero_point, axis: int | None = None, dtype: DType = DType.INT8) -> "QParams":
        """Parameters of a symmetric range, [-max, max] of `dtype` (TFLite's int8 weights)."""
        return cls(tuple(scale), tuple(zero_point), axis, -dtype.max, dtype.max)

    @property
    def is_default_range(self) -> bool:
        return (self.qmin, self.qmax) == (DType.INT8.min, DType.INT8.max)


@dataclass(frozen=True)
class TensorType:
    shape: tuple[int, ...]
    dtype: DType = DType.FLOAT32
    qparams: QParams | None = None
    layout: str = ""  # "" = the natural PyTorch layout (NCHW for images)

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.numel * self.dtype.itemsize

    def __str__(self) -> str:
        dims = "x".join(str(d) for d in self.shape) or "scalar"
        q = ""
        if self.qparams:
            qp = self.qparams
            bounds = "" if qp.is_default_range else f", range=[{qp.qmin}, {qp.qmax}]"
            q = f" q(scale={list(qp.scale)}, zp={list(qp.zero_point)}{bounds})"
        return f"{self.dtype.value}[{dims}]{q}{' ' + self.layout if self.layout else ''}"


class Op(enum.Enum):
    """The closed set of IR operations. Semantics: `edgelower.interp`; signatures: `edgelower.ops.OPS`."""

    # compute
    CONV2D = enum.auto()
    LINEAR = enum.auto()
    MATMUL = enum.auto()
    # elementwise binary (numpy broadcasting)
    ADD = enum.auto()
    SUB = enum.auto()
    MUL = enum.auto()
    DIV = enum.auto()
    MAXIMUM = enum.auto()
    MINIMUM = enum.auto()
    POW = enum.auto()
    # elementwise unary
    RELU = enum.auto()
    CLAMP = enum.auto()
    HARDSWISH = enum.auto()
    HARDSIGMOID = enum.auto()
    SIGMOID = enum.auto()
    TANH = enum.auto()
    GELU = enum.auto()
    SILU = enum.auto()
    EXP = enum.auto()
    LOG = enum.auto()
    SQRT = enum.auto()
    RSQRT = enum.auto()
    NEG = enum.auto()
    ABS = enum.auto()
    ERF = enum.auto()
    FLOOR = enum.auto()
    CEIL = enum.auto()
    ROUND = enum.auto()
    TRUNC = enum.auto()
    # int8 -> int8 through a 256-entry table (the integer form of any elementwise function of one int8 value)
    LOOKUP = enum.auto()
    # pooling and reductions
    MAX_POOL2D = enum.auto()
    AVG_POOL2D = enum.auto()
    ADAPTIVE_MAX_POOL2D = enum.auto()
    ADAPTIVE_AVG_POOL2D = enum.auto()
    MEAN = enum.auto()
    SUM = enum.auto()
    REDUCE_MAX = enum.auto()
    REDUCE_MIN = enum.auto()
    ARGMAX = enum.auto()
    ARGMIN = enum.auto()
    # data movement
    RESHAPE = enum.auto()
    PERMUTE = enum.auto()
    CONCAT = enum.auto()
    SLICE = enum.auto()
    EXPAND = enum.auto()
    PAD = enum.auto()
    UPSAMPLE_NEAREST = enum.auto()
    RESIZE_BILINEAR = enum.auto()
    GATHER = enum.auto()
    # integer arithmetic: int32 accumulator or int8 -> int8 with a new scale (TFLite's requantization)
    REQUANTIZE = enum.auto()
    # float <-> int8 at the edges of an integer region (only inside graphs compiled with int_only=False)
    QUANTIZE = enum.auto()
    DEQUANTIZE = enum.auto()
    # normalization
    SOFTMAX = enum.auto()
    LOG_SOFTMAX = enum.auto()
    LAYER_NORM = enum.auto()
    BATCH_NORM = enum.auto()
    # primitive integer arithmetic (edgelower.interp.primitives): with ADD, SUB, MUL, NEG, ABS, MAXIMUM, MINIMUM,
    # CLAMP, SUM, REDUCE_MAX, int32-accumulating CONV2D / LINEAR / MATMUL and data movement on integers, what
    # `decompose_integer` writes every integer op in
    CAST = enum.auto()
    SHIFT_LEFT = enum.auto()
    SHIFT_RIGHT = enum.auto()
    BITWISE_AND = enum.auto()
    MUL_HIGH = enum.auto()
    ROUNDING_SHIFT_RIGHT = enum.auto()
    TRUNC_DIV = enum.auto()
    COMPARE = enum.auto()
    WHERE = enum.auto()
    CLZ = enum.auto()


def freeze(value: Any) -> Any:
    """Attributes are plain immutable data: ints, floats, bools, strings, None, tuples of them, and frozen
    dataclasses."""
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (int, float, bool, str)) or value is None:
        return value
    if is_dataclass(value) and not isinstance(value, type) and value.__dataclass_params__.frozen:
        return value  # typed parameter records, e.g. the integer parameters `q` of a quantized node
    raise TypeError(f"attribute value {value!r} of type {type(value).__name__} is not plain immutable data")


@dataclass(frozen=True)
class Node:
    op: Op
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    name: str = ""
    source: str = ""  # the user's source line this node came from, for error messages

    def __post_init__(self):
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "attrs", MappingProxyType({k: freeze(v) for k, v in sorted(self.attrs.items())}))
        if not self.name:
            object.__setattr__(self, "name", self.outputs[0] if self.outputs else self.op.name.lower())

    @property
    def output(self) -> str:
        return self.outputs[0]

    def with_attrs(self, **changes: Any) -> "Node":
        return replace(self, attrs={**self.attrs, **changes})

    def __hash__(self):
        return hash((self.op, self.inputs, self.outputs, self.name))


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.array(array, copy=True)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Graph:
    """inputs/outputs name values; `types` holds every value's TensorType; `constants` every constant's data."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    nodes: tuple[Node, ...]
    types: Mapping[str, TensorType]
    constants: Mapping[str, np.ndarray] = field(default_factory=dict)
    name: str = "model"

    def __post_init__(self):
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "types", MappingProxyType(dict(self.types)))
        consts = {k: v if isinstance(v, Packed) or not v.flags.writeable else _readonly(v)
                  for k, v in self.constants.items()}
        object.__setattr__(self, "constants", MappingProxyType(consts))

    def replace(self, **changes: Any) -> "Graph":
        return replace(self, **changes)

    def producers(self) -> dict[str, Node]:
        return {out: node for node in self.nodes for out in node.outputs}

    def users(self) -> dict[str, list[Node]]:
        users: dict[str, list[Node]] = {name: [] for name in self.types}
        for node in self.nodes:
            for name in node.inputs:
                users.setdefault(name, []).append(node)
        return users

    def is_constant(self, name: str) -> bool:
        return name in self.constants

    def constant(self, name: str) -> np.ndarray:
        """A constant's dense array (the decode of a packed constant)."""
        return dense(self.constants[name])

    def __str__(self) -> str:
        from edgelower.ir.printer import print_graph

        return print_graph(self)


class GraphBuilder:
    """Builds a Graph node by node, inferring each output type from `edgelower.ir.ops`. Names are made unique."""

    def __init__(self, name: str = "model"):
        self.name = name
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.nodes: list[Node] = []
        self.types: dict[str, TensorType] = {}
        self.constants: dict[str, np.ndarray] = {}
        self._counts: dict[str, int] = {}

    def fresh(self, hint: str) -> str:
        from edgelower.ir.names import sanitize

        base = sanitize(hint)
        while True:
            n = self._counts.get(base, 0)
            self._counts[base] = n + 1
            name = base if n == 0 else f"{base}_{n}"
            if name not in self.types:
                return name

    def input(self, hint: str, ttype: TensorType) -> str:
        name = self.fresh(hint)
        self.types[name] = ttype
        self.inputs.append(name)
        return name

    def constant(self, hint: str, data) -> str:
        data = data if isinstance(data, Packed) else np.asarray(data)
        name = self.fresh(hint)
        self.types[name] = TensorType(data.shape, DType.of(data.dtype))
        self.constants[name] = data
        return name

    def op(self, op: Op, inputs: Iterable[str], attrs: Mapping[str, Any] | None = None, hint: str = "",
           source: str = "") -> str:
        return self.op_multi(op, inputs, attrs, hint, source)[0]

    def op_multi(self, op: Op, inputs: Iterable[str], attrs: Mapping[str, Any] | None = None, hint: str = "",
                 source: str = "") -> tuple[str, ...]:
        from edgelower.ir.ops import infer_types

        inputs = tuple(inputs)
        attrs = dict(attrs or {})
        out_types = infer_types(op, [self.types[i] for i in inputs], attrs)
        outs = tuple(self.fresh(hint or op.name.lower()) for _ in out_types)
        for out, t in zip(outs, out_types):
            self.types[out] = t
        self.nodes.append(Node(op, inputs, outs, attrs, name=outs[0], source=source))
        return outs

    def output(self, name: str) -> None:
        self.outputs.append(name)

    def build(self) -> Graph:
        return Graph(tuple(self.inputs), tuple(self.outputs), tuple(self.nodes), self.types, self.constants,
                     self.name)
