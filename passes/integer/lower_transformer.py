"""Attention's scale for `lower_integer`'s table (`lower_integer_ops.LOWERINGS`): MUL by 1/sqrt(d) or DIV by
sqrt(d) of the scores becomes part of the scores' requantization. (SOFTMAX, GELU and LAYER_NORM lower in
`lower_integer_ops` to the records of `edgelower.quant.transformer`.)

Pre: a Site whose op is MUL (either operand) or DIV (the divisor) of an int8 tensor by a positive scalar constant.
Post: one REQUANTIZE defines the site's output: of the MATMUL accumulator behind the tensor when that MATMUL's
requantized result is read by this op alone (the old REQUANTIZE dies), else of the tensor itself; no MUL or DIV.

Q @ K^T and attn @ V are MATMUL + REQUANTIZE (TFLite BatchMatMul, `lower_integer_ops.lower_matmul`); with the
scale folded, M = S_q * S_k * c / S_scores, the scaled scores are rounded once instead of twice (MATMUL's
requantization, then MulQ's), and DIV, which has no integer form of its own, needs none.
"""

from __future__ import annotations

import math

from edgelower.ir.graph import Node, Op, QParams
from edgelower.passes.integer.lower_integer_ops import FULL, Lowering, NoIntegerForm, Operand, Site
from edgelower.passes.rewrite import Rewrite
from edgelower.quant.records import RequantQ


def scaled_requantize(a: QParams, b: QParams, factor: float, out: QParams, act: tuple[int, int] = FULL) -> RequantQ:
    """The REQUANTIZE of MATMUL(a, b)'s int32 accumulator to `out` for factor * (a @ b), factor > 0: the factor
    joins the multiplier, M = S_a * S_b * factor / S_out (S_a * S_b rounded to float32 as TFLite's BatchMatMul)."""
    if not factor > 0:
        raise ValueError(f"a folded scale factor must be positive, got {factor}")
    return RequantQ.per_tensor(a.scale[0], b.scale[0], out.scale[0] / factor, out.zero_point[0], *act)


def _positive_scalar(a: Operand) -> float | None:
    """The value of a one-element constant operand (an int8 one dequantized), when it is positive and finite."""
    if a.data is None or a.data.size != 1:
        return None
    if a.type.dtype.is_float:
        value = float(a.data.reshape(()))
    elif a.is_int8:
        value = (float(a.data.reshape(())) - a.qparams.zero_point[0]) * a.qparams.scale[0]
    else:
        return None
    return value if 0.0 < value < math.inf else None


def _only_matmul_behind(site: Site, name: str) -> Node | None:
    """The MATMUL behind `name` = REQUANTIZE(accumulator), when `name` is read only by the site's op (through its
    DEQUANTIZE) and that REQUANTIZE is a plain rescale (no input offset, no clamp); else None."""
    ctx = site.ctx
    rq = ctx.producer(name)
    if rq is None or rq.op is not Op.REQUANTIZE or ctx.is_output(name):
        return None
    q, mm, readers = rq.attrs["q"], ctx.producer(rq.inputs[0]), ctx.users(name)
    if mm is None or mm.op is not Op.MATMUL or not isinstance(q, RequantQ) or q.input_offset != 0 or \
            (q.act_min, q.act_max) != FULL or len(readers) != 1 or readers[0].op is not Op.DEQUANTIZE or \
            not ctx.only_user(readers[0].output, site.node):
        return None
    return mm


def lower_scalar_scale(site: Site) -> Rewrite:
    """MUL or DIV of an int8 tensor by a positive scalar constant c: one REQUANTIZE (see the module docstring)."""
    ops = site.operands
    if site.node.op is Op.DIV:
        i, divisor = 0, _positive_scalar(ops[1])
        c = None if divisor is None else 1.0 / divisor
    elif site.node.op is Op.MUL:
        i = 0 if _positive_scalar(ops[1]) is not None else 1
        c = _positive_scalar(ops[1 - i])
    else:
        raise NoIntegerForm(f"{site.node.op.name} is no scaling")
    if c is None:
        raise NoIntegerForm("neither operand is a positive scalar constant")
    x, act = site.int8(i), site.act_range()
    if x.type.shape != site.out_type.shape:
        raise NoIntegerForm("the scalar broadcasts the tensor to a larger shape")
    mm = _only_matmul_behind(site, x.name)
    if mm is not None:
        a, b = (site.ctx.type(v).qparams for v in mm.inputs)
        q = scaled_requantize(a, b, c, site.out_type.qparams, act)
        return site.finish([site.node_to(Op.REQUANTIZE, [mm.output], site.output, {"q": q})])
    q = RequantQ.from_scales(x.qparams.scale[0] * c, x.qparams.zero_point[0], *site.out_q, *act)
    return site.finish([site.node_to(Op.REQUANTIZE, [x.name], site.output, {"q": q})])


def scalar_scale_or(other: Lowering) -> Lowering:
    """LOWERINGS[MUL]: a scaling by a positive scalar constant lowers here, any other MUL through `other`."""
    def lower(site: Site) -> Rewrite:
        try:
            return lower_scalar_scale(site)
        except NoIntegerForm:
            return other(site)
    return lower
