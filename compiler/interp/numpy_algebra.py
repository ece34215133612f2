"""The integer algebra on numpy arrays: each primitive evaluated by the interpreter's definition of its op
(`edgelower.interp.primitives`, and `float_ops` for the ops that wrap like C), checked against the op's type
inference. The interpreter runs every node with a `q` record through it (`edgelower.interp.integer`)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from edgelower.interp.float_ops import IMPLS as FLOAT_IMPLS
from edgelower.interp.primitives import PRIMITIVE_IMPLS
from edgelower.ir.graph import DType, Op, TensorType
from edgelower.ir.ops import infer_types
from edgelower.quant.algebra import IntegerAlgebra

_IMPLS = {**FLOAT_IMPLS, **PRIMITIVE_IMPLS}


class NumpyAlgebra(IntegerAlgebra[np.ndarray]):
    def apply(self, op: Op, inputs: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> np.ndarray:
        attrs = dict(attrs)
        (expected,) = infer_types(op, [self.type_of(v) for v in inputs], attrs)
        with np.errstate(over="ignore"):  # integer results wrap: that is their definition
            out = np.asarray(_IMPLS[op](list(inputs), attrs)[0])
        if out.dtype != expected.dtype.numpy or out.shape != expected.shape:
            raise AssertionError(f"{op.name} gave {out.dtype}{list(out.shape)}, its signature says {expected}")
        return out

    def constant(self, data: np.ndarray) -> np.ndarray:
        return data

    def type_of(self, value: np.ndarray) -> TensorType:
        return TensorType(np.shape(value), DType.of(np.asarray(value).dtype))


NUMPY = NumpyAlgebra()
