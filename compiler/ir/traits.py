"""Op traits: what every op is, decided once, in one table. Passes and backends derive their op sets from here.

Each trait is a semantic fact about the op, independent of any backend:
- `family`: what kind of computation it is (compute, elementwise, pool, reduction, movement, normalization,
  quantization); the report and backends group by it.
- `pointwise`: output element i reads element i of each input (after broadcasting) and nothing else. Such an op
  can run in place over an input of the output's shape and passes spatial tiles through unchanged.
- `axis_local`: output reads whole rows along one `axis` attribute and nothing across other axes (softmax,
  slice, concat along that axis); pointwise over the other axes.
- `windowed`: output pixel (h, w) reads a bounded spatial window of input 0 (the other inputs are parameters).
- `view`: may be a pure view (the same bytes read another way) for some shapes; alias_buffers decides which.
- `integer`: how the op computes on int8 values — `RECORD`: its arithmetic is a `q` record (requantizing ops);
  `EXACT`: it moves, selects or compares int8 values with the same quantization in and out, no record needed
  (a record only clamps a fused activation); `NONE`: it has no integer form of its own.
- `plain_integer`: defined on integer arrays without a record too (wrapping arithmetic, movement, comparison);
  False for float-only math (transcendentals, division, normalization, averaging).
- `clamps`: the op is a clamp of its input (RELU, CLAMP), so an integer producer's requantization can apply it.
- `shares_qparams`: quantize gives its output the input's quantization (no arithmetic on values).
- `accumulates`: int8 x int8 products summed into an int32 accumulator (conv, linear, matmul).
- `takes_activation`: may carry a fused `activation` attribute; `fusable_activation`: may be fused that way.
- `parameters`: input positions that are weights, not activations.
- `primitive`: one of the primitive integer ops a decomposed integer graph is made of (`decompose_integer`; their
  semantics: edgelower.interp.primitives) — the new ones, and the existing ops that are exact on integers.

`tests/test_traits.py` checks that every op has a row and that every registered backend either supports or
refuses each op by name.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Mapping

from edgelower.ir.graph import Node, Op


class Family(enum.Enum):
    COMPUTE = "compute"
    ELEMENTWISE = "elementwise"
    POOL = "pool"
    REDUCTION = "reduction"
    MOVEMENT = "movement"
    NORMALIZATION = "normalization"
    QUANTIZATION = "quantization"


class IntegerForm(enum.Enum):
    RECORD = "record"   # arithmetic defined by a `q` record (edgelower.quant.records)
    EXACT = "exact"     # exact on int8 values with shared quantization parameters
    NONE = "none"       # float only


@dataclass(frozen=True)
class OpTraits:
    family: Family
    integer: IntegerForm
    pointwise: bool = False
    axis_local: bool = False
    windowed: bool = False
    view: bool = False
    plain_integer: bool = True
    clamps: bool = False
    shares_qparams: bool = False
    accumulates: bool = False
    takes_activation: bool = False
    fusable_activation: bool = False
    parameters: tuple[int, ...] = ()
    primitive: bool = False


_R, _E, _N = IntegerForm.RECORD, IntegerForm.EXACT, IntegerForm.NONE


def _elementwise(integer: IntegerForm, plain_integer: bool = True, **kw) -> OpTraits:
    return OpTraits(Family.ELEMENTWISE, integer, pointwise=True, plain_integer=plain_integer, **kw)


def _float_math(integer: IntegerForm = _N, **kw) -> OpTraits:
    return _elementwise(integer, plain_integer=False, **kw)


def _movement(integer: IntegerForm = _E, **kw) -> OpTraits:
    return OpTraits(Family.MOVEMENT, integer, shares_qparams=True, **kw)


TRAITS: Mapping[Op, OpTraits] = {
    Op.CONV2D: OpTraits(Family.COMPUTE, _R, windowed=True, accumulates=True, takes_activation=True,
                        parameters=(1, 2), primitive=True),
    Op.LINEAR: OpTraits(Family.COMPUTE, _R, accumulates=True, takes_activation=True, parameters=(1, 2),
                        primitive=True),
    Op.MATMUL: OpTraits(Family.COMPUTE, _R, accumulates=True, primitive=True),
    Op.ADD: _elementwise(_R, takes_activation=True, primitive=True),
    Op.SUB: _elementwise(_R, primitive=True),
    Op.MUL: _elementwise(_R, primitive=True),
    Op.DIV: _float_math(),
    Op.MAXIMUM: _elementwise(_E, primitive=True),
    Op.MINIMUM: _elementwise(_E, primitive=True),
    Op.POW: _float_math(_R),
    Op.RELU: _elementwise(_R, shares_qparams=True, fusable_activation=True, clamps=True),
    Op.CLAMP: _elementwise(_R, shares_qparams=True, fusable_activation=True, clamps=True, primitive=True),
    Op.HARDSWISH: _float_math(_R, fusable_activation=True),
    Op.HARDSIGMOID: _float_math(_R),
    Op.SIGMOID: _float_math(_R),
    Op.TANH: _float_math(_R),
    Op.GELU: _float_math(_R),
    Op.SILU: _float_math(_R),
    # elementwise functions of one value: on int8 a LOOKUP table of the function (passes/integer/lower_tables.py)
    Op.EXP: _float_math(_R),
    Op.LOG: _float_math(_R),
    Op.SQRT: _float_math(_R),
    Op.RSQRT: _float_math(_R),
    Op.NEG: _elementwise(_R, primitive=True),
    Op.ABS: _elementwise(_R, primitive=True),
    Op.ERF: _float_math(_R),
    Op.FLOOR: _float_math(_R),
    Op.CEIL: _float_math(_R),
    Op.ROUND: _float_math(_R),
    Op.TRUNC: _float_math(_R),
    Op.LOOKUP: _elementwise(_R, plain_integer=False),
    Op.MAX_POOL2D: OpTraits(Family.POOL, _E, windowed=True, shares_qparams=True, primitive=True),
    Op.AVG_POOL2D: OpTraits(Family.POOL, _R, windowed=True, shares_qparams=True, plain_integer=False),
    Op.ADAPTIVE_MAX_POOL2D: OpTraits(Family.POOL, _E, shares_qparams=True, primitive=True),
    Op.ADAPTIVE_AVG_POOL2D: OpTraits(Family.POOL, _R, shares_qparams=True, plain_integer=False),
    Op.MEAN: OpTraits(Family.REDUCTION, _R, plain_integer=False),
    Op.SUM: OpTraits(Family.REDUCTION, _R, primitive=True),
    Op.REDUCE_MAX: OpTraits(Family.REDUCTION, _E, shares_qparams=True, primitive=True),
    Op.REDUCE_MIN: OpTraits(Family.REDUCTION, _E, shares_qparams=True, primitive=True),
    # indices (int64 or int32), no quantization: on int8 the same selection of the same values
    Op.ARGMAX: OpTraits(Family.REDUCTION, _E, primitive=True),
    Op.ARGMIN: OpTraits(Family.REDUCTION, _E, primitive=True),
    Op.RESHAPE: _movement(view=True, primitive=True),
    Op.PERMUTE: _movement(view=True, primitive=True),
    Op.CONCAT: OpTraits(Family.MOVEMENT, _E, axis_local=True, primitive=True),
    Op.SLICE: _movement(axis_local=True, view=True, primitive=True),
    Op.EXPAND: _movement(view=True, primitive=True),
    Op.PAD: OpTraits(Family.MOVEMENT, _E, windowed=True, primitive=True),
    Op.UPSAMPLE_NEAREST: _movement(primitive=True),
    # interpolates: on int8 TFLite's fixed-point ResizeBilinearInteger (a record), same quantization in and out
    Op.RESIZE_BILINEAR: OpTraits(Family.MOVEMENT, _R, shares_qparams=True, plain_integer=False),
    Op.GATHER: _movement(primitive=True),
    Op.REQUANTIZE: OpTraits(Family.QUANTIZATION, _R, pointwise=True),
    Op.QUANTIZE: OpTraits(Family.QUANTIZATION, _N, pointwise=True),
    Op.DEQUANTIZE: OpTraits(Family.QUANTIZATION, _N, pointwise=True),
    Op.SOFTMAX: OpTraits(Family.NORMALIZATION, _R, axis_local=True, plain_integer=False),
    Op.LOG_SOFTMAX: OpTraits(Family.NORMALIZATION, _N, axis_local=True, plain_integer=False),
    Op.LAYER_NORM: OpTraits(Family.NORMALIZATION, _R, parameters=(1, 2), plain_integer=False),
    Op.BATCH_NORM: OpTraits(Family.NORMALIZATION, _N, pointwise=True, parameters=(1, 2, 3, 4),
                            plain_integer=False),
    # the primitive integer ops decompose_integer adds: elementwise on plain integer tensors, never lowered from a
    # quantized float op (so no int8 form of their own)
    Op.CAST: _elementwise(_N, primitive=True),
    Op.SHIFT_LEFT: _elementwise(_N, primitive=True),
    Op.SHIFT_RIGHT: _elementwise(_N, primitive=True),
    Op.BITWISE_AND: _elementwise(_N, primitive=True),
    Op.MUL_HIGH: _elementwise(_N, primitive=True),
    Op.ROUNDING_SHIFT_RIGHT: _elementwise(_N, primitive=True),
    Op.TRUNC_DIV: _elementwise(_N, primitive=True),
    # on floats too (torch.where, comparisons); on int8 exact with one quantization (lower_integer_select)
    Op.COMPARE: _elementwise(_E, primitive=True),
    Op.WHERE: _elementwise(_E, primitive=True),
    Op.CLZ: _elementwise(_N, primitive=True),
}

assert set(TRAITS) == set(Op), f"ops without traits: {sorted(op.name for op in set(Op) - set(TRAITS))}"


def traits(op: Op) -> OpTraits:
    return TRAITS[op]


def ops_where(**conditions) -> frozenset[Op]:
    """The ops whose traits have every given value, e.g. `ops_where(pointwise=True)`."""
    return frozenset(op for op, t in TRAITS.items() if all(getattr(t, k) == v for k, v in conditions.items()))


def is_integer(node: Node) -> bool:
    """Whether `node` computes on integers by a `q` record (the one test every pass and backend uses)."""
    return node.attrs.get("q") is not None
