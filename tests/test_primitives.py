"""The primitive integer ops (edgelower.interp.primitives) against independent scalar definitions in Python ints:
exact rational arithmetic (fractions) where the numpy code uses shifts, masks and wide types, on every pairing of
edge values of each type and on hypothesis-drawn ones. Out-of-range shift amounts and division by zero are errors,
never answers."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, strategies as st

from edgelower.interp import evaluate_node
from edgelower.ir.graph import DType, Node, Op

SIGNED = (DType.INT8, DType.INT16, DType.INT32, DType.INT64)


def wrap(v: int, dtype: DType) -> int:
    span = 1 << dtype.bits
    return (v - dtype.min) % span + dtype.min


def round_half_away(q: Fraction) -> int:
    magnitude = math.floor(abs(q) + Fraction(1, 2))
    return magnitude if q >= 0 else -magnitude


def mul_high(a: int, b: int, t: DType) -> int:
    if a == b == t.min:
        return t.max
    return math.floor(Fraction(2 * a * b, 1 << t.bits) + Fraction(1, 2))  # ties toward +infinity


def trunc_div(a: int, b: int, t: DType) -> int:
    return wrap(int(Fraction(a, b)), t)  # int() of a fraction truncates toward zero


def clz(a: int, t: DType) -> int:
    return t.bits - (a % (1 << t.bits)).bit_length()


# (op, attrs, the dtypes it takes, the scalar definition, the second operand's range as a function of the type)
BINARY = {
    "shift_left": (Op.SHIFT_LEFT, {}, SIGNED, lambda a, s, t: wrap(a * 2 ** s, t), "amount"),
    "shift_right": (Op.SHIFT_RIGHT, {}, SIGNED, lambda a, s, t: a // 2 ** s, "amount"),
    "rounding_shift_right": (Op.ROUNDING_SHIFT_RIGHT, {}, SIGNED,
                             lambda a, e, t: round_half_away(Fraction(a, 2 ** e)), "amount"),
    "mul_high": (Op.MUL_HIGH, {}, (DType.INT16, DType.INT32), mul_high, "value"),
    "trunc_div": (Op.TRUNC_DIV, {}, SIGNED, trunc_div, "nonzero"),
    "bitwise_and": (Op.BITWISE_AND, {}, SIGNED, lambda a, b, t: a & b, "value"),
    "add": (Op.ADD, {}, SIGNED, lambda a, b, t: wrap(a + b, t), "value"),
    "sub": (Op.SUB, {}, SIGNED, lambda a, b, t: wrap(a - b, t), "value"),
    "mul": (Op.MUL, {}, SIGNED, lambda a, b, t: wrap(a * b, t), "value"),
    "maximum": (Op.MAXIMUM, {}, SIGNED, lambda a, b, t: max(a, b), "value"),
    **{f"compare_{p}": (Op.COMPARE, {"predicate": p}, SIGNED, fn, "value") for p, fn in {
        "lt": lambda a, b, t: a < b, "le": lambda a, b, t: a <= b, "gt": lambda a, b, t: a > b,
        "ge": lambda a, b, t: a >= b, "eq": lambda a, b, t: a == b, "ne": lambda a, b, t: a != b}.items()},
}
UNARY = {
    "clz": (Op.CLZ, {}, (DType.INT32, DType.INT64), clz),
    "neg": (Op.NEG, {}, SIGNED, lambda a, t: wrap(-a, t)),
    "abs": (Op.ABS, {}, SIGNED, lambda a, t: wrap(abs(a), t)),
}


def edges(t: DType) -> list[int]:
    half = 1 << (t.bits - 2)
    return sorted({t.min, t.min + 1, -half - 1, -half, -3, -2, -1, 0, 1, 2, 3, half, half + 1, t.max - 1, t.max})


def second_operands(kind: str, t: DType) -> list[int]:
    if kind == "amount":
        return list(range(t.bits))
    values = edges(t)
    return [v for v in values if v != 0] if kind == "nonzero" else values


def run(op: Op, attrs: dict, *arrays: np.ndarray) -> np.ndarray:
    node = Node(op, tuple(f"a{i}" for i in range(len(arrays))), ("y",), attrs)
    return evaluate_node(node, list(arrays))[0]


def check_binary(name: str, t: DType, xs: list[int], ys: list[int]) -> None:
    op, attrs, _, scalar, _ = BINARY[name]
    pairs = list(itertools.product(xs, ys))
    a = np.array([p[0] for p in pairs], dtype=t.numpy)
    b = np.array([p[1] for p in pairs], dtype=t.numpy)
    got = run(op, attrs, a, b)
    expected = [scalar(x, y, t) for x, y in pairs]
    assert got.tolist() == [int(e) if not isinstance(e, bool) else e for e in expected], name


@pytest.mark.parametrize("name, dtype", [(n, t) for n, spec in BINARY.items() for t in spec[2]])
def test_binary_primitive_on_every_pair_of_edge_values(name, dtype):
    check_binary(name, dtype, edges(dtype), second_operands(BINARY[name][4], dtype))


@pytest.mark.parametrize("name, dtype", [(n, t) for n, spec in UNARY.items() for t in spec[2]])
def test_unary_primitive_on_edge_values_and_every_power_of_two(name, dtype):
    op, attrs, _, scalar = UNARY[name]
    xs = sorted(set(edges(dtype)) | {wrap(1 << k, dtype) for k in range(dtype.bits)}
                | {(1 << k) - 1 for k in range(dtype.bits)})
    got = run(op, attrs, np.array(xs, dtype.numpy))
    assert got.dtype == dtype.numpy and got.tolist() == [scalar(x, dtype) for x in xs]


@given(st.sampled_from(sorted((n, t.value) for n, spec in BINARY.items() for t in spec[2])), st.data())
def test_binary_primitive_on_drawn_values(case, data):
    name, dtype = case[0], DType(case[1])
    values = st.integers(dtype.min, dtype.max)
    kind = BINARY[name][4]
    second = st.integers(0, dtype.bits - 1) if kind == "amount" else values.filter(bool) if kind == "nonzero" \
        else values
    check_binary(name, dtype, data.draw(st.lists(values, min_size=1, max_size=8)),
                 data.draw(st.lists(second, min_size=1, max_size=8)))


@pytest.mark.parametrize("src", [DType.BOOL, *SIGNED, DType.UINT8])
@pytest.mark.parametrize("dst", [*SIGNED, DType.UINT8])
def test_cast_wraps_modulo_two_to_the_bits(src, dst):
    xs = [0, 1] if src is DType.BOOL else edges(src) if src.signed else [0, 1, 127, 128, 255]
    got = run(Op.CAST, {"dtype": dst.value}, np.array(xs, src.numpy))
    assert got.dtype == dst.numpy and got.tolist() == [wrap(int(x), dst) for x in xs]


def test_where_selects_and_broadcasts():
    cond = np.array([[True], [False]])
    got = run(Op.WHERE, {}, cond, np.array([1, 2, 3], np.int32), np.array(-7, np.int32))
    assert got.dtype == np.int32 and got.tolist() == [[1, 2, 3], [-7, -7, -7]]


def test_int8_accumulation_into_int32_wraps_once():
    x = np.full((1, 4), 127, np.int8)
    w = np.full((2, 4), 127, np.int8)
    bias = np.array([DType.INT32.max, DType.INT32.min], np.int32)
    got = run(Op.LINEAR, {"out_dtype": "int32"}, x, w, bias)
    assert got.dtype == np.int32
    assert got.tolist() == [[wrap(DType.INT32.max + 4 * 127 * 127, DType.INT32), DType.INT32.min + 4 * 127 * 127]]


@pytest.mark.parametrize("op, amount", [(Op.SHIFT_LEFT, 32), (Op.SHIFT_RIGHT, -1), (Op.ROUNDING_SHIFT_RIGHT, 32)])
def test_shift_amounts_outside_the_width_are_errors(op, amount):
    with pytest.raises(ValueError, match=r"outside \[0, 32\)"):
        run(op, {}, np.array([5], np.int32), np.array([amount], np.int32))


def test_division_by_zero_is_an_error():
    with pytest.raises(ValueError, match="division by zero"):
        run(Op.TRUNC_DIV, {}, np.array([5, 6], np.int32), np.array([1, 0], np.int32))
