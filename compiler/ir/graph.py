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
    FLOAT32 = "float32"
    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    BOOL = "bool"

    @property
    def numpy(self) -> np.dtype:
        return np.dtype(self.value)

    @property
    def itemsize(self) -> int:
        return self.numpy.itemsize

    @property
    def is_float(self) -> bool:
        return self is DType.FLOAT32

    @classmethod
    def of(cls, dtype: Any) -> "DType":
        return cls(np.dtype(dtype).name)


@dataclass(frozen=True)
class QParams:
    """Affine quantization: real = (q - zero_point) * scale. Per tensor (one scale) or per `axis`."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int | None = None


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
        q = f" q(scale={list(self.qparams.scale)}, zp={list(self.qparams.zero_point)})" if self.qparams else ""
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
    # pooling and reductions
    MAX_POOL2D = enum.auto()
    AVG_POOL2D = enum.auto()
    MEAN = enum.auto()
    SUM = enum.auto()
    REDUCE_MAX = enum.auto()
    # data movement
    RESHAPE = enum.auto()
    PERMUTE = enum.auto()
    CONCAT = enum.auto()
    SLICE = enum.auto()
    EXPAND = enum.auto()
    PAD = enum.auto()
    UPSAMPLE_NEAREST = enum.auto()
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
