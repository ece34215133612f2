"""The integer form of elementwise functions of one value, for `lower_integer`'s table (`INTEGER_FORMS`): a LOOKUP
whose TableQ holds the function's result for each of the 256 int8 inputs (edgelower.quant.tables).

Pre: a Site whose op is pointwise with one int8 operand, every other operand a constant holding one value (POW's
exponent, the numerator of a reciprocal).
Post: one LOOKUP of that operand defines the site's output, its table clamped to the activation range.

ABS and RSQRT take TFLite Micro's integer arithmetic (TableQ.abs, TableQ.rsqrt), so that the .tflite export writes
the op itself and TFLM computes the same bytes; every other function is the exact function on the int8 grid: its
float definition (the interpreter's) on each dequantized input, quantized as QUANTIZE does.
"""

from __future__ import annotations

import numpy as np

from edgelower.interp import evaluate_node
from edgelower.ir.graph import Op
from edgelower.passes.integer.lower_integer_ops import NoIntegerForm, Operand, Site, record
from edgelower.passes.rewrite import Rewrite
from edgelower.quant.tables import INPUTS, TableQ

# TFLite Micro's own int8 arithmetic, where it has one.
TFLM_TABLES = {Op.ABS: TableQ.abs, Op.RSQRT: TableQ.rsqrt}

TABLE_OPS = (Op.EXP, Op.LOG, Op.SQRT, Op.RSQRT, Op.ABS, Op.NEG, Op.ERF, Op.FLOOR, Op.CEIL, Op.ROUND, Op.TRUNC,
             Op.POW, Op.SILU)


def _scalar(operand: Operand) -> np.ndarray:
    """The one value of a constant operand, as float32 (an int8 constant dequantized as DEQUANTIZE does)."""
    if operand.data is None:
        raise NoIntegerForm(f"%{operand.name} is computed at run time: the function has two int8 arguments")
    data = np.asarray(operand.data)
    if data.size == 0 or np.any(data != data.reshape(-1)[0]):
        raise NoIntegerForm(f"the constant %{operand.name} holds more than one value: no single table")
    value = data.reshape(-1)[:1]
    if operand.type.dtype.is_float:
        return value.astype(np.float32).reshape(())
    if operand.is_int8:
        return ((value.astype(np.int32) - operand.qparams.zero_point[0]).astype(np.float32)
                * np.float32(operand.qparams.scale[0])).reshape(())
    raise NoIntegerForm(f"the constant %{operand.name} is {operand.type.dtype.value}")


def _the_int8_operand(site: Site) -> int:
    runtime = [i for i, o in enumerate(site.operands) if o.data is None]
    if len(runtime) == 1:
        return runtime[0]
    int8 = [i for i, o in enumerate(site.operands) if o.is_int8]
    if len(int8) == 1:
        return int8[0]
    raise NoIntegerForm("a table needs exactly one int8 operand")


def lower_table(site: Site) -> Rewrite:
    """A LOOKUP of the site's one int8 operand (see the module docstring)."""
    i = _the_int8_operand(site)
    x, (lo, hi) = site.int8(i), site.act_range()
    if x.type.shape != site.out_type.shape:
        raise NoIntegerForm("a constant operand broadcasts the tensor to a larger shape")
    (in_scale,), (in_zp,) = x.qparams.scale, x.qparams.zero_point
    if site.node.op in TFLM_TABLES:
        q = record(TFLM_TABLES[site.node.op], in_scale, in_zp, *site.out_q)
    else:
        reals = ((INPUTS - in_zp).astype(np.float32) * np.float32(in_scale)).astype(np.float32)
        arrays = [reals if k == i else _scalar(o) for k, o in enumerate(site.operands)]
        (result,) = evaluate_node(site.node, arrays)
        q = record(TableQ.from_reals, site.node.op.name, result, *site.out_q)
    q = TableQ(q.function, tuple(min(max(v, lo), hi) for v in q.table))
    return site.finish([site.node_to(Op.LOOKUP, (x.name,), site.output, {"q": q})])


def reciprocal_or(other):
    """LOWERINGS[DIV]: c / x for a constant c is a table of x; any other DIV lowers through `other`."""
    def lower(site: Site) -> Rewrite:
        if site.operands[0].data is not None and site.operands[1].data is None:
            return lower_table(site)
        return other(site)
    return lower
