"""Which C kernel renders a node: the float32 table (`kernels.KERNELS`, data movement for any dtype) or the int8
table (`kernels_s8.INT8_KERNELS`, for integer nodes and the record-less int8 comparisons). `unsupported` answers
before anything is written; `emit_kernel` renders."""

from __future__ import annotations

from typing import Callable, Mapping

from edgelower.ir.graph import DType, Node, Op, TensorType
from edgelower.ir.traits import IntegerForm, is_integer, traits

from edgelower.backends.c.context import KernelContext
from edgelower.backends.c.kernels import ANY_DTYPE, KERNELS, OWN_RESULT_DTYPE
from edgelower.backends.c.kernels_s8 import INT8_KERNELS

Emit = Callable[[KernelContext], None]


def _operands(node: Node) -> tuple[str, ...]:
    """The values whose dtype picks the kernel: the inputs, and the outputs unless their dtype is the op's own."""
    return node.inputs if node.op in OWN_RESULT_DTYPE else node.inputs + node.outputs


def _int8_operands(node: Node, types: Mapping[str, TensorType]) -> bool:
    return all(types[v].dtype is DType.INT8 for v in _operands(node))


def _takes_int8_kernel(node: Node, types: Mapping[str, TensorType]) -> bool:
    """An integer node (a `q` record), or an op exact on int8 that has an int8 kernel, on int8 operands."""
    if is_integer(node):
        return True
    return (traits(node.op).integer is IntegerForm.EXACT and node.op in INT8_KERNELS
            and _int8_operands(node, types))


def select(node: Node, types: Mapping[str, TensorType]) -> tuple[Emit | None, str]:
    """The emit function for `node`, or None and why the runtime has no kernel for it."""
    if _takes_int8_kernel(node, types):
        if node.op not in INT8_KERNELS:
            return None, "no int8 C kernel for this op (kernels_s8.INT8_KERNELS)"
        return INT8_KERNELS[node.op], ""
    if node.op not in KERNELS:
        return None, "no C kernel for this op (kernels.KERNELS)"
    operands = [types[v] for v in _operands(node)]
    if node.op not in ANY_DTYPE and any(t.dtype is not DType.FLOAT32 or t.qparams is not None for t in operands):
        kinds = sorted({f"{t.dtype.value}{' (quantized)' if t.qparams else ''}" for t in operands})
        return None, f"the C runtime has only float32 kernels for this op; operands are {', '.join(kinds)}"
    return KERNELS[node.op], ""


def unsupported(node: Node, types: Mapping[str, TensorType]) -> str | None:
    """None when the C runtime has a kernel for `node`, else the reason."""
    emit, why = select(node, types)
    return None if emit is not None else why


def emit_kernel(k: KernelContext) -> None:
    emit, why = select(k.node, k.types)
    if emit is None:
        raise k.fail(why)
    emit(k)


# Every op the C backend can render in some dtype: the registry test checks the rest are refused by name.
SUPPORTED_OPS = frozenset(KERNELS) | frozenset(INT8_KERNELS)
assert all(isinstance(op, Op) for op in SUPPORTED_OPS)
