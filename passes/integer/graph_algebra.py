"""The integer algebra (edgelower.quant.algebra) as a graph builder: each primitive adds one node, typed by
`edgelower.ir.ops`, and each constant one graph constant, equal constants shared. `decompose_integer` runs the
interpreter's integer programs on it, so a node's decomposition applies exactly the ops its definition evaluates."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from edgelower.ir.graph import DType, Node, Op, TensorType
from edgelower.ir.ops import infer_types
from edgelower.quant.algebra import IntegerAlgebra


class GraphAlgebra(IntegerAlgebra[str]):
    """Values are value names: those of `types` (the graph's) and the ones this builder defines (`new_types`), in
    the order of `nodes`. `fresh(hint)` names new values; every new name starts with `prefix`."""

    def __init__(self, types: Mapping[str, TensorType], fresh: Callable[[str], str], prefix: str, source: str = ""):
        self._types = types
        self._fresh = fresh
        self._prefix = prefix
        self._source = source
        self._shared: dict[tuple, str] = {}
        self.new_types: dict[str, TensorType] = {}
        self.nodes: list[Node] = []
        self.constants: dict[str, np.ndarray] = {}

    def apply(self, op: Op, inputs: Sequence[str], attrs: Mapping[str, Any]) -> str:
        attrs = dict(attrs)
        (out_type,) = infer_types(op, [self.type_of(i) for i in inputs], attrs)
        name = self._fresh(f"{self._prefix}_{op.name.lower()}")
        self.new_types[name] = out_type
        self.nodes.append(Node(op, tuple(inputs), (name,), attrs, name, self._source))
        return name

    def constant(self, data: np.ndarray) -> str:
        key = (data.dtype.str, data.shape, data.tobytes())
        if key not in self._shared:
            name = self._fresh(f"{self._prefix}_k")
            self.constants[name] = data
            self.new_types[name] = TensorType(data.shape, DType.of(data.dtype))
            self._shared[key] = name
        return self._shared[key]

    def type_of(self, value: str) -> TensorType:
        return self.new_types[value] if value in self.new_types else self._types[value]
