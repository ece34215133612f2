"""The module builder: a Graph as one `func.func @main` of linalg-on-tensors, built with the upstream MLIR Python
bindings that ship in iree-base-compiler (never by string concatenation).

`Emitter` is what the rule tables (`elementwise`, `compute`, `reduce`, `movement`) build with: the dialect modules,
the graph's values and types, and the few shapes of op that every rule is made of — a pointwise `linalg.generic`
with numpy broadcasting, a reduction, padding, reshapes through `tensor.collapse_shape` / `expand_shape`. Rules
never import the bindings themselves, so `edgelower.backends.mlir` and its rule tables import without iree.

Constants: every graph constant of more than one element is a `dense_resource` (a weight, printed once as a blob at
the end of the module), a single element an inline `dense<...>`. Every op a node produces carries that node's name
as its location, so the printed module (`loc("conv1")`) and IREE's diagnostics name the IR node.
"""

from __future__ import annotations

from math import prod
from typing import Any, Callable, Sequence

import numpy as np

from iree.compiler import ir
from iree.compiler.dialects import arith, func, linalg, math, tensor

from edgelower.ir.graph import DType, Graph, Node

from edgelower.backends.mlir.rules import ELEMENT_TYPES


class Emitter:
    """Builds linalg-on-tensors for one graph inside an open `ir.Context`."""

    ir, arith, func, linalg, math, tensor = ir, arith, func, linalg, math, tensor
    PAR, RED = linalg.IteratorType.parallel, linalg.IteratorType.reduction

    def __init__(self, graph: Graph):
        self.graph, self.types = graph, graph.types
        self.values: dict[str, ir.Value] = {}

    # --- types and constants ------------------------------------------------------------------------------------

    def element(self, dtype: DType) -> ir.Type:
        if dtype is DType.FLOAT32:
            return ir.F32Type.get()
        return ir.IntegerType.get_signless(int(ELEMENT_TYPES[dtype][1:]))

    def tensor_type(self, shape: Sequence[int], dtype: DType) -> ir.RankedTensorType:
        return ir.RankedTensorType.get(list(shape), self.element(dtype))

    def dtype(self, name: str) -> DType:
        return self.types[name].dtype

    def shape(self, name: str) -> tuple[int, ...]:
        return self.types[name].shape

    def value(self, name: str) -> ir.Value:
        """A graph value: an argument, a node's result, or a constant (materialized where first used)."""
        if name not in self.values:
            self.values[name] = self._constant(name)
        return self.values[name]

    def _constant(self, name: str) -> ir.Value:
        data = np.array(self.graph.constant(name), order="C")
        ttype = self.tensor_type(data.shape, DType.of(data.dtype))
        if data.size > 1 and data.dtype != np.bool_:
            # The bindings keep a reference to the buffer for the blob's lifetime.
            return arith.constant(ttype, ir.DenseResourceElementsAttr.get_from_buffer(data, name, ttype))
        return self.array(data, DType.of(data.dtype))

    def array(self, data: np.ndarray, dtype: DType) -> ir.Value:
        """A compile-time tensor written inline (`dense<...>`): a single element, a bool mask, a divisor table."""
        data = np.array(data, dtype=dtype.numpy, order="C")
        ttype = self.tensor_type(data.shape, dtype)
        if data.size == 1:
            item = data.reshape(-1)[0].item()
            element = ir.FloatAttr.get(ttype.element_type, item) if dtype.is_float else \
                ir.IntegerAttr.get(ttype.element_type, int(item))
            return arith.constant(ttype, ir.DenseElementsAttr.get_splat(ttype, element))
        return arith.constant(ttype, ir.DenseElementsAttr.get(data, type=ttype.element_type, shape=list(data.shape)))

    def scalar(self, value: Any, dtype: DType) -> ir.Value:
        """A scalar constant of `dtype`, `value` converted as numpy converts it (floats rounded to float32)."""
        converted = np.asarray(value).astype(dtype.numpy).item()
        return arith.constant(self.element(dtype), float(converted) if dtype.is_float else int(converted))

    # --- tensors ------------------------------------------------------------------------------------------------

    def empty(self, shape: Sequence[int], dtype: DType) -> ir.Value:
        return tensor.empty(list(shape), self.element(dtype))

    def filled(self, shape: Sequence[int], dtype: DType, value: Any) -> ir.Value:
        return linalg.fill(self.scalar(value, dtype), outs=[self.empty(shape, dtype)])

    def generic(self, ins: Sequence[ir.Value], outs: Sequence[ir.Value], maps: Sequence[Sequence],
                iterators: Sequence, body: Callable[..., Any], loops: int) -> ir.Value:
        """A `linalg.generic` over `loops` loops; maps are lists of AffineExprs (or ints for constants) per operand;
        `body(*scalars of ins, *scalars of outs)` returns the yielded scalar."""
        affine = [ir.AffineMap.get(loops, 0, [self.affine(e) for e in exprs]) for exprs in maps]

        @linalg.generic(list(ins), list(outs), affine, list(iterators))
        def result(*args):
            return body(*args)
        return result

    def affine(self, e) -> ir.AffineExpr:
        return ir.AffineConstantExpr.get(e) if isinstance(e, int) else e

    def dims(self, n: int) -> list:
        return [ir.AffineDimExpr.get(i) for i in range(n)]

    @staticmethod
    def broadcast_exprs(in_shape: Sequence[int], out_shape: Sequence[int], dims: Sequence) -> list:
        """numpy broadcasting as an indexing map: trailing dims aligned, a size-1 dim against a larger one read at 0."""
        offset = len(out_shape) - len(in_shape)
        return [0 if size == 1 and out_shape[offset + i] != 1 else dims[offset + i] for i, size in enumerate(in_shape)]

    def pointwise(self, operands: Sequence[tuple[ir.Value, Sequence[int]]], shape: Sequence[int], dtype: DType,
                  body: Callable[..., Any]) -> ir.Value:
        """out[i] = body(operand[i] broadcast like numpy...) over `shape`."""
        d = self.dims(len(shape))
        maps = [self.broadcast_exprs(s, shape, d) for _, s in operands] + [d]
        return self.generic([v for v, _ in operands], [self.empty(shape, dtype)], maps, [self.PAR] * len(shape),
                            lambda *args: body(*args[:-1]), len(shape))

    def reduce(self, x: ir.Value, shape: Sequence[int], axes: Sequence[int], dtype: DType, init: Any,
               combine: Callable[[Any, Any], Any]) -> ir.Value:
        """x reduced over `axes` (dropped from the result's shape), starting from `init`."""
        kept = [i for i in range(len(shape)) if i not in axes]
        d = self.dims(len(shape))
        out = self.filled([shape[i] for i in kept], dtype, init)
        iterators = [self.RED if i in axes else self.PAR for i in range(len(shape))]
        return self.generic([x], [out], [d, [d[i] for i in kept]], iterators, lambda a, acc: combine(a, acc),
                            len(shape))

    def pad(self, x: ir.Value, low: Sequence[int], high: Sequence[int], value: Any, dtype: DType) -> ir.Value:
        if not any(low) and not any(high):
            return x
        source = ir.RankedTensorType(x.type)
        shape = [s + lo + hi for s, lo, hi in zip(source.shape, low, high)]
        op = tensor.PadOp(self.tensor_type(shape, dtype), x, [], [], list(low), list(high))
        block = op.regions[0].blocks.append(*[ir.IndexType.get()] * len(shape))
        with ir.InsertionPoint(block):
            tensor.YieldOp(self.scalar(value, dtype))
        return op.result

    def windows(self, x: ir.Value, out_hw: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                dilation: Sequence[int]) -> ir.Value:
        """An NCHW input cut to the rows and columns its windows read: linalg's named convolutions and pools
        require exactly that extent, where the IR (like torch) ignores what the last stride does not reach."""
        source = ir.RankedTensorType(x.type)
        n, c, h, w = source.shape
        need = [(o - 1) * s + (k - 1) * d + 1 for o, k, s, d in zip(out_hw, kernel, stride, dilation)]
        if need == [h, w]:
            return x
        sizes = [n, c, *need]
        return tensor.ExtractSliceOp(ir.RankedTensorType.get(sizes, source.element_type), x, [], [], [], [0] * 4,
                                     sizes, [1] * 4).result

    def reshape(self, x: ir.Value, to: Sequence[int]) -> ir.Value:
        """The same elements in row-major order under another static shape (no data moves)."""
        source = ir.RankedTensorType(x.type)
        frm, to = list(source.shape), list(to)
        if frm == to:
            return x
        if len(frm) > 1 or (len(frm) == 1 and not to):
            flat = [prod(frm)] if to else []
            x = tensor.CollapseShapeOp(ir.RankedTensorType.get(flat, source.element_type), x,
                                       [list(range(len(frm)))] if to else []).result
            frm = flat
        if frm != to:
            x = tensor.ExpandShapeOp(ir.RankedTensorType.get(to, source.element_type), x,
                                     [list(range(len(to)))] if frm else [], [], to).result
        return x

    def index(self, dim: int) -> ir.Value:
        return linalg.IndexOp(dim).result


NodeRule = Callable[[Emitter, Node], ir.Value]
