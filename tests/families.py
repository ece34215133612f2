"""Op families for the backend tests and the conformance suite: one fixed graph per kernel family, float32 (together
they hold every Op) and the int8-lowerable subset (quantized by the int8 pipeline from the float graph)."""

from __future__ import annotations

import numpy as np

from edgelower.ir.graph import DType, Graph, GraphBuilder, Op, TensorType
from edgelower.quant.records import RequantQ
from edgelower.quant.tables import TableQ


class Family:
    """A GraphBuilder plus the inputs it needs, so a family lists only its ops."""

    def __init__(self, name: str):
        self.b, self.inputs, self.rng = GraphBuilder(name), [], np.random.default_rng(len(name))

    def input(self, shape, lo=-1.0, hi=1.0, dtype=np.float32) -> str:
        data = self.rng.uniform(lo, hi, shape).astype(dtype)
        self.inputs.append(data)
        return self.b.input("x", TensorType(shape, DType.of(dtype)))

    def const(self, shape, lo=-1.0, hi=1.0) -> str:
        return self.b.constant("w", self.rng.uniform(lo, hi, shape).astype(np.float32))

    def out(self, op: Op, inputs, attrs=None) -> str:
        name = self.b.op(op, inputs, attrs)
        self.b.output(name)
        return name


def conv_family(f: Family) -> None:
    x = f.input((2, 4, 7, 6))
    f.out(Op.CONV2D, [x, f.const((6, 2, 3, 2)), f.const((6,))],
          {"stride": (2, 1), "padding": (1, 0, 2, 1), "dilation": (1, 2), "groups": 2})
    f.out(Op.CONV2D, [x, f.const((4, 1, 3, 3))], {"padding": (1, 1, 1, 1), "groups": 4})
    f.out(Op.CONV2D, [x, f.const((3, 4, 1, 1)), f.const((3,))])


def dense_family(f: Family) -> None:
    x = f.input((2, 3, 5))
    f.out(Op.LINEAR, [x, f.const((4, 5)), f.const((4,))])
    f.out(Op.LINEAR, [x, f.const((2, 5))])
    f.out(Op.MATMUL, [f.input((2, 1, 3, 4)), f.input((3, 4, 5))])
    f.out(Op.MATMUL, [x, f.const((5, 3))])


def elementwise_family(f: Family) -> None:
    a, b, c = f.input((2, 3, 4)), f.input((3, 1)), f.const((4,), 0.5, 2.0)
    for op in (Op.ADD, Op.SUB, Op.MUL, Op.MAXIMUM, Op.MINIMUM):
        f.out(op, [a, b])
        f.out(op, [c, a])
    f.out(Op.DIV, [a, c])
    f.out(Op.ADD, [a, f.b.constant("s", np.float32(0.25))])
    f.out(Op.POW, [c, a])
    f.out(Op.POW, [a, f.b.constant("e", np.float32(3.0))])


def activation_family(f: Family) -> None:
    x, positive = f.input((3, 17), -5.0, 5.0), f.input((2, 9), 0.1, 4.0)
    for op in (Op.RELU, Op.HARDSWISH, Op.HARDSIGMOID, Op.SIGMOID, Op.TANH, Op.SILU, Op.EXP, Op.NEG, Op.ABS, Op.ERF):
        f.out(op, [x])
    for op in (Op.LOG, Op.SQRT, Op.RSQRT):
        f.out(op, [positive])
    for op in (Op.FLOOR, Op.CEIL, Op.ROUND, Op.TRUNC):
        f.out(op, [x])
    f.out(Op.GELU, [x], {"approximate": "none"})
    f.out(Op.GELU, [x], {"approximate": "tanh"})
    f.out(Op.CLAMP, [x], {"min": -1.0, "max": 2.5})
    f.out(Op.CLAMP, [x], {"min": None, "max": 0.5})


def pool_family(f: Family) -> None:
    x = f.input((2, 3, 7, 8))
    f.out(Op.MAX_POOL2D, [x], {"kernel": (3, 2), "stride": (2, 2), "padding": (1, 0, 1, 1), "dilation": (2, 1),
                               "ceil_mode": True})
    f.out(Op.AVG_POOL2D, [x], {"kernel": (3, 3), "stride": (2, 2), "padding": (1, 1, 1, 1), "ceil_mode": True})
    f.out(Op.AVG_POOL2D, [x], {"kernel": (3, 3), "stride": (2, 3), "padding": (1, 1, 0, 1),
                               "count_include_pad": False})
    f.out(Op.AVG_POOL2D, [x], {"kernel": (2, 2), "stride": (2, 2), "divisor": 3})
    f.out(Op.AVG_POOL2D, [x], {"kernel": (2, 3), "stride": (1, 2), "divisor": -2})
    f.out(Op.ADAPTIVE_AVG_POOL2D, [x], {"size": (5, 3)})
    f.out(Op.ADAPTIVE_MAX_POOL2D, [x], {"size": (3, 5)})


def reduce_family(f: Family) -> None:
    x = f.input((2, 3, 4, 5))
    f.out(Op.MEAN, [x], {"axes": (2, 3), "keepdim": True})
    f.out(Op.MEAN, [x], {"axes": (0, 2)})
    f.out(Op.SUM, [x], {"axes": (1,)})
    f.out(Op.SUM, [x], {"axes": (0, 1, 2, 3)})
    f.out(Op.REDUCE_MAX, [x], {"axes": (3, 1), "keepdim": True})
    f.out(Op.REDUCE_MIN, [x], {"axes": (0, 2)})
    f.out(Op.ARGMAX, [x], {"axis": 2})
    f.out(Op.ARGMIN, [x], {"axis": 3, "keepdim": True, "out_dtype": "int32"})


def select_family(f: Family) -> None:
    a, b = f.input((2, 3, 4)), f.input((3, 1))
    for predicate in ("lt", "le", "gt", "ge", "eq", "ne"):
        f.out(Op.COMPARE, [a, f.b.constant("t", np.float32(0.125))], {"predicate": predicate})
    mask = f.out(Op.COMPARE, [a, b], {"predicate": "gt"})
    f.out(Op.WHERE, [mask, a, b])
    f.out(Op.WHERE, [mask, f.b.constant("zero", np.float32(0.0)), a])


def movement_family(f: Family) -> None:
    x, table = f.input((2, 3, 4)), f.input((5, 3))
    f.out(Op.RESHAPE, [x], {"shape": (4, 6)})
    f.out(Op.PERMUTE, [x], {"perm": (2, 0, 1)})
    f.out(Op.SLICE, [x], {"axis": 2, "start": 1, "end": 4, "step": 2})
    f.out(Op.EXPAND, [f.input((3, 1))], {"shape": (2, 3, 4)})
    f.out(Op.CONCAT, [x, f.input((2, 1, 4)), x], {"axis": 1})
    f.out(Op.PAD, [x], {"pads": ((0, 1), (2, 0), (1, 1)), "value": -1.5})
    f.out(Op.UPSAMPLE_NEAREST, [f.input((1, 2, 3, 2))], {"size": (7, 3)})
    f.out(Op.GATHER, [table, f.input((2, 3), 0, 5, np.int64)])
    f.out(Op.GATHER, [table, f.b.constant("idx", np.array([4, 0, 4], np.int32))])
    f.out(Op.GATHER, [x, f.b.constant("rows", np.array([[2, 0], [1, 2]], np.int64))], {"axis": 1})
    image = f.input((1, 2, 4, 5))
    f.out(Op.RESIZE_BILINEAR, [image], {"size": (7, 3)})
    f.out(Op.RESIZE_BILINEAR, [image], {"size": (3, 8), "align_corners": True})
    f.out(Op.RESIZE_BILINEAR, [image], {"size": (6, 8), "scale": (0.625, 0.625)})


def norm_family(f: Family) -> None:
    x = f.input((2, 3, 4), -3.0, 3.0)
    f.out(Op.SOFTMAX, [x], {"axis": 1})
    f.out(Op.LOG_SOFTMAX, [x], {"axis": 2})
    f.out(Op.LAYER_NORM, [x, f.const((3, 4), 0.5, 1.5), f.const((3, 4))], {"normalized_ndim": 2})
    f.out(Op.LAYER_NORM, [x], {"normalized_ndim": 1, "eps": 1e-3})
    bn = [f.const((3,)), f.const((3,), 0.5, 2.0), f.const((3,)), f.const((3,))]
    f.out(Op.BATCH_NORM, [f.input((2, 3, 2, 2)), *bn])
    f.out(Op.BATCH_NORM, [f.input((4, 3)), *bn])


def quantize_family(f: Family) -> None:
    """The edges of an integer region (graphs lowered with int_only=False) and a requantization between them."""
    x = f.input((3, 7), -3.0, 3.0)
    q = f.b.op(Op.QUANTIZE, [x], {"scale": 0.02, "zero_point": 3})
    f.out(Op.DEQUANTIZE, [q], {"scale": 0.02, "zero_point": 3})
    r = f.out(Op.REQUANTIZE, [q], {"q": RequantQ.from_scales(0.02, 3, 0.05, -7)})
    f.out(Op.DEQUANTIZE, [r], {"scale": 0.05, "zero_point": -7})
    table = TableQ.from_reals("EXP", np.exp((np.arange(-128, 128) - 3) * np.float32(0.02)), 0.1, -128)
    f.out(Op.DEQUANTIZE, [f.b.op(Op.LOOKUP, [q], {"q": table})], {"scale": 0.1, "zero_point": -128})


FAMILIES = {fn.__name__.removesuffix("_family"): fn for fn in (
    conv_family, dense_family, elementwise_family, activation_family, pool_family, reduce_family, select_family,
    movement_family, norm_family, quantize_family)}


def family(name: str) -> tuple[Graph, list[np.ndarray]]:
    f = Family(name)
    FAMILIES[name](f)
    return f.b.build(), f.inputs


# --- the int8-lowerable subset: float graphs whose every op has an integer form --------------------------------

def int8_conv_family(f: Family) -> None:
    x = f.input((1, 4, 9, 8))
    f.out(Op.CONV2D, [x, f.const((6, 2, 3, 3)), f.const((6,))], {"stride": (2, 1), "padding": (1, 1, 1, 1), "groups": 2})
    f.out(Op.CONV2D, [x, f.const((4, 1, 3, 3)), f.const((4,))], {"padding": (1, 1, 1, 1), "groups": 4})
    y = f.b.op(Op.CONV2D, [x, f.const((5, 4, 1, 1)), f.const((5,))])
    f.out(Op.RELU, [y])


def int8_dense_family(f: Family) -> None:
    x = f.input((2, 3, 5))
    f.out(Op.LINEAR, [x, f.const((4, 5)), f.const((4,))])
    f.out(Op.MATMUL, [f.input((2, 3, 4)), f.input((2, 4, 5))])


def int8_elementwise_family(f: Family) -> None:
    a, b = f.input((2, 3, 4)), f.input((3, 1), -2.0, 2.0)
    for op in (Op.ADD, Op.SUB, Op.MUL, Op.MAXIMUM, Op.MINIMUM):
        f.out(op, [a, b])


def int8_activation_family(f: Family) -> None:
    x = f.input((3, 17), -4.0, 4.0)
    for op in (Op.RELU, Op.HARDSWISH, Op.HARDSIGMOID, Op.SIGMOID, Op.TANH):
        f.out(op, [x])
    for op in (Op.EXP, Op.ABS, Op.NEG, Op.ERF, Op.SILU, Op.FLOOR, Op.ROUND):
        f.out(op, [x])
    positive = f.input((2, 9), 0.1, 4.0)
    for op in (Op.LOG, Op.SQRT, Op.RSQRT):
        f.out(op, [positive])
    f.out(Op.POW, [x, f.b.constant("e", np.float32(3.0))])
    f.out(Op.DIV, [f.b.constant("one", np.float32(1.0)), positive])
    f.out(Op.GELU, [x], {"approximate": "none"})
    f.out(Op.CLAMP, [x], {"min": -1.0, "max": 2.5})


def int8_pool_family(f: Family) -> None:
    x = f.input((1, 3, 8, 8))
    f.out(Op.MAX_POOL2D, [x], {"kernel": (3, 3), "stride": (2, 2), "padding": (1, 1, 1, 1)})
    f.out(Op.AVG_POOL2D, [x], {"kernel": (2, 2), "stride": (2, 2)})
    f.out(Op.AVG_POOL2D, [x], {"kernel": (3, 3), "stride": (2, 2), "padding": (1, 1, 1, 1),
                               "count_include_pad": False})
    f.out(Op.ADAPTIVE_AVG_POOL2D, [x], {"size": (5, 3)})
    f.out(Op.ADAPTIVE_MAX_POOL2D, [x], {"size": (3, 7)})


def int8_reduce_family(f: Family) -> None:
    x = f.input((2, 3, 4, 5))
    f.out(Op.MEAN, [x], {"axes": (2, 3), "keepdim": True})
    f.out(Op.SUM, [x], {"axes": (3,)})
    f.out(Op.REDUCE_MAX, [x], {"axes": (1,), "keepdim": True})
    f.out(Op.REDUCE_MIN, [x], {"axes": (0, 3)})
    f.out(Op.ARGMAX, [x], {"axis": 3})
    f.out(Op.ARGMIN, [x], {"axis": 1, "keepdim": True, "out_dtype": "int32"})


def int8_select_family(f: Family) -> None:
    a, b = f.input((2, 3, 4)), f.input((3, 1), -2.0, 2.0)
    f.out(Op.COMPARE, [a, f.b.constant("t", np.float32(0.3))], {"predicate": "ge"})
    f.out(Op.COMPARE, [f.b.constant("u", np.float32(-0.2)), a], {"predicate": "lt"})
    mask = f.b.op(Op.COMPARE, [a, b], {"predicate": "gt"})
    f.out(Op.WHERE, [mask, a, b])


def int8_movement_family(f: Family) -> None:
    x = f.input((1, 3, 4, 4))
    f.out(Op.RESHAPE, [x], {"shape": (3, 16)})
    f.out(Op.PERMUTE, [x], {"perm": (0, 2, 3, 1)})
    f.out(Op.SLICE, [x], {"axis": 3, "start": 1, "end": 4, "step": 2})
    f.out(Op.CONCAT, [x, x], {"axis": 1})
    f.out(Op.PAD, [x], {"pads": ((0, 0), (0, 0), (1, 1), (2, 0)), "value": 0.0})
    f.out(Op.UPSAMPLE_NEAREST, [x], {"size": (8, 6)})
    f.out(Op.RESIZE_BILINEAR, [x], {"size": (7, 9)})
    f.out(Op.RESIZE_BILINEAR, [x], {"size": (3, 6), "align_corners": True})
    f.out(Op.GATHER, [x, f.b.constant("rows", np.array([3, 0, 3], np.int64))], {"axis": 2})


def int8_norm_family(f: Family) -> None:
    x = f.input((2, 3, 8), -3.0, 3.0)
    f.out(Op.SOFTMAX, [x], {"axis": 2})
    f.out(Op.LAYER_NORM, [x, f.const((8,), 0.5, 1.5), f.const((8,))], {"normalized_ndim": 1})


INT8_FAMILIES = {fn.__name__.removeprefix("int8_").removesuffix("_family"): fn for fn in (
    int8_conv_family, int8_dense_family, int8_elementwise_family, int8_activation_family, int8_pool_family,
    int8_reduce_family, int8_select_family, int8_movement_family, int8_norm_family)}


def int8_family(name: str) -> tuple[Graph, list[np.ndarray]]:
    """A float graph every op of which the int8 pipeline lowers, and float inputs for it."""
    f = Family(f"int8_{name}")
    INT8_FAMILIES[name](f)
    return f.b.build(), f.inputs
