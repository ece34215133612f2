"""Signatures of the primitive integer ops (their semantics: `edgelower.interp.primitives`), the integer
accumulation rule of CONV2D / LINEAR / MATMUL (`out_dtype`), and the set of ops a decomposed integer graph is made
of. `edgelower.ir.ops.OPS` includes these signatures."""

from __future__ import annotations

from edgelower.ir.graph import DType, Op, TensorType
from edgelower.ir.traits import ops_where
from edgelower.ir.signature import REQUIRED, Infer, IRError, OpSignature, binary, broadcast_shapes, dtype_attr


def accumulator_dtype(ins, attrs) -> DType:
    """The result dtype of CONV2D, LINEAR, MATMUL: `out_dtype`, an integer type at least as wide as the two integer
    operands (a bias has that type), or the first operand's."""
    if attrs.get("out_dtype") is None:
        return ins[0].dtype
    out = dtype_attr(attrs["out_dtype"])
    x, w = ins[0].dtype, ins[1].dtype
    if not (x.is_integer and w == x and out.is_integer and out.bits >= x.bits):
        raise IRError(f"out_dtype {out.value} accumulates two operands of one integer type no wider, got "
                      f"{x.value} and {w.value}")
    if len(ins) == 3 and ins[2].dtype != out:
        raise IRError(f"the bias of an accumulation into {out.value} is {ins[2].dtype.value}")
    return out


def _integers(ins, dtypes=None) -> None:
    for t in ins:
        if not t.dtype.is_integer or (dtypes is not None and t.dtype not in dtypes):
            raise IRError(f"operands must be {'integers' if dtypes is None else ' or '.join(d.value for d in dtypes)}"
                          f", got {t}")


def _integer_binary(dtypes=None) -> Infer:
    def infer(ins, attrs):
        _integers(ins, dtypes)
        return binary(ins, attrs)
    return infer


def _cast(ins, attrs):
    out = dtype_attr(attrs["dtype"])
    if not (ins[0].dtype.is_integer or ins[0].dtype is DType.BOOL) or not out.is_integer:
        raise IRError(f"cast converts integers or bool to integers, got {ins[0].dtype.value} -> {out.value}")
    return [TensorType(ins[0].shape, out)]


def _bitwise_and(ins, attrs):
    if any(not (t.dtype.is_integer or t.dtype is DType.BOOL) for t in ins):
        raise IRError(f"bitwise_and takes integers or bool, got {ins[0]} and {ins[1]}")
    return binary(ins, attrs)


COMPARE_PREDICATES = ("lt", "le", "gt", "ge", "eq", "ne")


def _compare(ins, attrs):
    if attrs["predicate"] not in COMPARE_PREDICATES:
        raise IRError(f"compare predicate {attrs['predicate']!r} is not one of {COMPARE_PREDICATES}")
    if not all(t.dtype.is_float for t in ins):  # float32 too: torch's comparisons (IEEE: NaN compares unequal)
        _integers(ins)
    return [TensorType(binary(ins, attrs)[0].shape, DType.BOOL)]


def _where(ins, attrs):
    cond, a, b = ins
    if cond.dtype is not DType.BOOL or a.dtype != b.dtype:
        raise IRError(f"where takes a bool condition and two values of one dtype, got {cond}, {a}, {b}")
    return [TensorType(broadcast_shapes(cond.shape, a.shape, b.shape), a.dtype)]


def _clz(ins, attrs):
    _integers(ins, (DType.INT32, DType.INT64))
    return [ins[0]]


PRIMITIVE_SIGNATURES: dict[Op, OpSignature] = {
    Op.CAST: OpSignature(1, 1, {"dtype": REQUIRED}, _cast),  # wraps modulo 2**bits; bool is 0 or 1
    Op.SHIFT_LEFT: OpSignature(2, 2, {}, _integer_binary()),
    Op.SHIFT_RIGHT: OpSignature(2, 2, {}, _integer_binary()),
    Op.BITWISE_AND: OpSignature(2, 2, {}, _bitwise_and),
    Op.MUL_HIGH: OpSignature(2, 2, {}, _integer_binary((DType.INT16, DType.INT32))),
    Op.ROUNDING_SHIFT_RIGHT: OpSignature(2, 2, {}, _integer_binary((DType.INT8, DType.INT16, DType.INT32,
                                                                     DType.INT64))),
    Op.TRUNC_DIV: OpSignature(2, 2, {}, _integer_binary()),
    Op.COMPARE: OpSignature(2, 2, {"predicate": REQUIRED}, _compare),
    Op.WHERE: OpSignature(3, 3, {}, _where),
    Op.CLZ: OpSignature(1, 1, {}, _clz),
}

# What an integer graph is made of once `decompose_integer` has run (verify(..., primitive_only=True)): the
# primitive integer ops, the arithmetic that wraps like C, accumulation into a wider type, and data movement.
PRIMITIVE_INTEGER_OPS = ops_where(primitive=True)  # the op traits decide (edgelower.ir.traits)
