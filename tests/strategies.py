"""Hypothesis strategies that generate edgelower IR, for the property tests of passes, backends and the runtime.

    shapes(min_rank, max_rank, max_side, max_numel)    -> tuple[int, ...]
    image_shapes(max_batch, max_channels, max_side)    -> NCHW tuple
    tensor_types(shape_strategy, dtypes)               -> TensorType
    attributes(op, x, kernel=(1, 1))                   -> dict of valid attributes for `op` on first input type x
    fused_activations()                                -> None or an `activation` spec (CONV2D, LINEAR, ADD)
    graphs(ops=FLOAT_OPS, max_nodes=8, max_inputs=2, max_outputs=3, fused=True)  -> Graph
    inputs_for(graph)                                  -> list[np.ndarray], one per graph input
    graph_and_inputs(**same as graphs)                 -> (Graph, inputs)
    FLOAT_OPS, MAX_NUMEL, MAX_BOUND                    the ops `graphs` knows; its size and magnitude limits

Generated graphs are built with GraphBuilder, so they are well formed by construction (the verifier accepts them).
They have one to `max_inputs` float32 inputs with values in [-1, 1], several outputs, dead nodes, constant
subgraphs (so folding fires), no-op candidates (same-shape RESHAPE, identity PERMUTE, x + 0, x * 1, ...),
CONV2D/LINEAR followed by BATCH_NORM, and every tensor holds at most MAX_NUMEL elements.

Values stay finite and moderate, so that comparing a pass's result with the original is meaningful: the generator
tracks an upper bound on |value| for every value and refuses an op whose result could exceed MAX_BOUND; LOG, SQRT,
RSQRT and the denominator of DIV read `abs(x) + c` with c >= 0.5, and EXP reads a value clamped to [-4, 4].
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from hypothesis import strategies as st

from edgelower.ir.graph import DType, Graph, GraphBuilder, Op, TensorType
from edgelower.ir.ops import activation_spec, infer_types, pool_out

MAX_NUMEL = 2048
MAX_RANK = 4  # what MCU kernels handle; only EXPAND could add dimensions
MAX_BOUND = 100.0
INPUT_BOUND = 1.0


def shapes(min_rank: int = 0, max_rank: int = 4, max_side: int = 6, max_numel: int = 256) -> st.SearchStrategy:
    """Shapes with every side in [1, max_side] and at most `max_numel` elements."""
    return st.lists(st.integers(1, max_side), min_size=min_rank, max_size=max_rank).map(tuple).filter(
        lambda s: math.prod(s) <= max_numel)


def image_shapes(max_batch: int = 2, max_channels: int = 4, max_side: int = 8) -> st.SearchStrategy:
    """NCHW shapes."""
    return st.tuples(st.integers(1, max_batch), st.integers(1, max_channels), st.integers(1, max_side),
                     st.integers(1, max_side))


def tensor_types(shape_strategy: st.SearchStrategy | None = None,
                 dtypes: Sequence[DType] = (DType.FLOAT32,)) -> st.SearchStrategy:
    return st.builds(TensorType, shape_strategy or shapes(), st.sampled_from(list(dtypes)))


# --- attributes per op -------------------------------------------------------------------------------------------

def _factor(n: int) -> list[int]:
    primes, p = [], 2
    while p * p <= n:
        while n % p == 0:
            primes.append(p)
            n //= p
        p += 1
    return primes + ([n] if n > 1 else [])


@st.composite
def _reshape_attrs(draw, x: TensorType):
    if draw(st.booleans()):
        return {"shape": x.shape}
    rank = draw(st.integers(1, 4))
    dims = [1] * rank
    for p in _factor(x.numel):
        dims[draw(st.integers(0, rank - 1))] *= p
    return {"shape": tuple(dims)}


@st.composite
def _slice_attrs(draw, x: TensorType):
    axis = draw(st.integers(0, len(x.shape) - 1))
    size = x.shape[axis]
    if draw(st.booleans()):
        return {"axis": axis, "start": 0, "end": size, "step": 1}
    start = draw(st.integers(0, size - 1))
    return {"axis": axis, "start": start, "end": draw(st.integers(start + 1, size)), "step": draw(st.integers(1, 3))}


@st.composite
def _expand_attrs(draw, x: TensorType):
    if draw(st.booleans()):
        return {"shape": x.shape}
    lead = draw(st.lists(st.integers(1, 3), max_size=max(0, MAX_RANK - len(x.shape))))
    dims = [draw(st.integers(1, 4)) if d == 1 else d for d in x.shape]
    return {"shape": tuple(lead) + tuple(dims)}


@st.composite
def _pad_attrs(draw, x: TensorType):
    zero = draw(st.booleans())
    pads = tuple((0, 0) if zero else (draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in x.shape)
    return {"pads": pads, "value": draw(st.sampled_from([0.0, -1.0, 0.5]))}


@st.composite
def _pool_attrs(draw, x: TensorType, avg: bool):
    h, w = x.shape[2:]
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    attrs: dict[str, Any] = {
        "kernel": kernel, "stride": (draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        # PyTorch allows padding up to half the kernel; more would make windows of padding only.
        "padding": tuple(draw(st.integers(0, kernel[i % 2] // 2)) for i in range(4)),
        "ceil_mode": draw(st.booleans())}
    if avg:
        attrs.update(count_include_pad=draw(st.booleans()), divisor=draw(st.sampled_from([None, None, 1, 3])))
    else:
        attrs["dilation"] = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dh, dw = attrs.get("dilation", (1, 1))
    (sh, sw), (pt, pl, pb, pr) = attrs["stride"], attrs["padding"]
    if not (_windows_read_input(h, kernel[0], sh, pt, pb, dh, attrs["ceil_mode"]) and
            _windows_read_input(w, kernel[1], sw, pl, pr, dw, attrs["ceil_mode"])):
        attrs.update(kernel=(1, 1), padding=(0, 0, 0, 0))  # always valid
    return attrs


def _windows_read_input(size: int, kernel: int, stride: int, lo: int, hi: int, dilation: int, ceil: bool) -> bool:
    """There is an output, and every window has a tap inside the input: a window of padding only would give
    -inf (MAX_POOL2D) or 0 / 0 (AVG_POOL2D without count_include_pad), which models never contain."""
    out = pool_out(size, kernel, stride, lo, hi, dilation, ceil)
    return out > 0 and all(any(0 <= i * stride - lo + j * dilation < size for j in range(kernel)) for i in range(out))


@st.composite
def _conv_attrs(draw, x: TensorType, kernel: tuple[int, int]):
    c, h, w = x.shape[1:]
    padding = tuple(draw(st.integers(0, 1)) for _ in range(4))
    dilation = []
    for size, k, lo, hi in ((h, kernel[0], padding[0], padding[2]), (w, kernel[1], padding[1], padding[3])):
        fits = [d for d in (1, 2) if (k - 1) * d + 1 <= size + lo + hi]
        dilation.append(draw(st.sampled_from(fits)) if fits else 1)
    return {"stride": (draw(st.integers(1, 2)), draw(st.integers(1, 2))), "padding": padding,
            "dilation": tuple(dilation), "groups": draw(st.sampled_from([g for g in range(1, c + 1) if c % g == 0]))}


@st.composite
def _axes_attrs(draw, x: TensorType):
    axes = draw(st.lists(st.integers(0, len(x.shape) - 1), min_size=1, max_size=len(x.shape), unique=True))
    return {"axes": tuple(sorted(axes)), "keepdim": draw(st.booleans())}


@st.composite
def _clamp_attrs(draw, x: TensorType):
    lo = draw(st.sampled_from([None, -1.0, -0.5, 0.0]))
    hi = draw(st.sampled_from([None, 0.5, 1.0, 6.0]))
    return {"min": lo, "max": hi}


def _resample_size(x: TensorType) -> st.SearchStrategy:
    """An output (height, width) of a resampling op: smaller, equal or larger, dividing the input or not."""
    return st.tuples(st.integers(1, 2 * x.shape[2]), st.integers(1, 2 * x.shape[3]))


def _axis(x: TensorType) -> st.SearchStrategy:
    return st.integers(0, len(x.shape) - 1)


_ATTRIBUTES: dict[Op, Callable[..., st.SearchStrategy]] = {
    Op.CLAMP: _clamp_attrs,
    Op.GELU: lambda x: st.fixed_dictionaries({"approximate": st.sampled_from(["none", "tanh"])}),
    Op.MAX_POOL2D: lambda x: _pool_attrs(x, avg=False),
    Op.AVG_POOL2D: lambda x: _pool_attrs(x, avg=True),
    Op.MEAN: _axes_attrs, Op.SUM: _axes_attrs, Op.REDUCE_MAX: _axes_attrs, Op.REDUCE_MIN: _axes_attrs,
    Op.ADAPTIVE_AVG_POOL2D: lambda x: _resample_size(x).map(lambda size: {"size": size}),
    Op.ADAPTIVE_MAX_POOL2D: lambda x: _resample_size(x).map(lambda size: {"size": size}),
    Op.RESIZE_BILINEAR: lambda x: st.fixed_dictionaries({"size": _resample_size(x),
                                                         "align_corners": st.booleans()}),
    Op.RESHAPE: _reshape_attrs,
    Op.PERMUTE: lambda x: st.permutations(range(len(x.shape))).map(lambda p: {"perm": tuple(p)}),
    Op.CONCAT: lambda x: st.fixed_dictionaries({"axis": _axis(x)}),
    Op.SLICE: _slice_attrs,
    Op.EXPAND: _expand_attrs,
    Op.PAD: _pad_attrs,
    Op.UPSAMPLE_NEAREST: lambda x: st.tuples(st.integers(1, 2 * x.shape[2]), st.integers(1, 2 * x.shape[3])).map(
        lambda size: {"size": size}),
    Op.SOFTMAX: lambda x: st.fixed_dictionaries({"axis": _axis(x)}),
    Op.LOG_SOFTMAX: lambda x: st.fixed_dictionaries({"axis": _axis(x)}),
    # eps well above float32 resolution: a near-constant group must not turn rounding noise into output.
    Op.LAYER_NORM: lambda x: st.fixed_dictionaries({"normalized_ndim": st.integers(1, len(x.shape)),
                                                    "eps": st.sampled_from([1e-3, 1e-2])}),
    Op.BATCH_NORM: lambda x: st.fixed_dictionaries({"eps": st.sampled_from([1e-5, 1e-3])}),
}


def fused_activations() -> st.SearchStrategy:
    """The `activation` attribute of CONV2D, LINEAR, ADD: None half the time, else a fusable activation's spec."""
    specs = [activation_spec(Op.RELU, {}), activation_spec(Op.CLAMP, {"min": 0.0, "max": 6.0}),
             activation_spec(Op.HARDSWISH, {})]
    return st.one_of(st.none(), st.sampled_from(specs))


def attributes(op: Op, x: TensorType, kernel: tuple[int, int] = (1, 1)) -> st.SearchStrategy:
    """Valid attributes of `op` whose first input has type `x`. CONV2D also needs its kernel size, which must fit
    the input with padding 1 (the graph generator clips it after drawing). CONCAT's axis must still match the other
    operands, which the caller chooses."""
    if op is Op.CONV2D:
        return _conv_attrs(x, kernel)
    return _ATTRIBUTES[op](x) if op in _ATTRIBUTES else st.just({})


# --- random graphs -----------------------------------------------------------------------------------------------

class _State:
    """A graph under construction: the builder, every value's |value| bound, the values ops may read."""

    def __init__(self, draw, rng: np.random.Generator, batchnorm: bool, activations: bool):
        self.draw, self.rng, self.batchnorm, self.activations = draw, rng, batchnorm, activations
        self.builder = GraphBuilder("random")
        self.bound: dict[str, float] = {}
        self.values: list[str] = []     # operands an op may pick: inputs, constant roots, node outputs
        self.produced: list[str] = []   # node outputs, the candidates for graph outputs

    def type(self, name: str) -> TensorType:
        return self.builder.types[name]

    def shape(self, name: str) -> tuple[int, ...]:
        return self.type(name).shape

    def const(self, hint: str, data: np.ndarray) -> str:
        name = self.builder.constant(hint, data)
        self.bound[name] = float(np.max(np.abs(data))) if data.size else 0.0
        return name

    def uniform(self, hint: str, shape: Sequence[int], lo: float = -1.0, hi: float = 1.0) -> str:
        return self.const(hint, self.rng.uniform(lo, hi, tuple(shape)).astype(np.float32))

    def node(self, op: Op, inputs: Sequence[str], attrs: dict | None, bound: float) -> str | None:
        """Add the node unless its result could be too big (in elements or in magnitude)."""
        attrs = dict(attrs or {})
        (out,) = infer_types(op, [self.type(i) for i in inputs], attrs)
        if out.numel > MAX_NUMEL or not bound <= MAX_BOUND:
            return None
        name = self.builder.op(op, inputs, attrs)
        self.bound[name] = bound
        self.values.append(name)
        self.produced.append(name)
        return name

    def positive(self, x: str) -> tuple[str | None, float]:
        """(abs(x) + c, c) with c in [0.5, 1]: an operand that LOG, SQRT, RSQRT and DIV read without blowing up."""
        c = self.draw(st.sampled_from([0.5, 1.0]))
        a = self.node(Op.ABS, [x], None, self.bound[x])
        return (a and self.node(Op.ADD, [a, self.const("c", np.float32(c))], None, self.bound[x] + c)), c

    def operand(self, x: str, fills: Sequence[str] = ("random",)) -> str:
        """A second operand broadcasting with x: an existing value, or a constant (random, zeros or ones)."""
        shape = self.shape(x)
        others = [v for v in self.values if _broadcasts(self.shape(v), shape)]
        if others and self.draw(st.booleans()):
            return self.draw(st.sampled_from(others))
        candidates = [shape, shape[len(shape) // 2:], ()]  # elementwise, trailing dims (per feature), scalar
        if len(shape) >= 3:
            candidates.append((shape[-3], 1, 1))  # per channel, as BATCH_NORM lowers to
        cshape = self.draw(st.sampled_from([c for c in candidates if _broadcasts(c, shape)]))
        fill = self.draw(st.sampled_from(list(fills)))
        if fill == "random":
            return self.uniform("w", cshape)
        return self.const(fill, np.full(cshape, 0.0 if fill == "zeros" else 1.0, np.float32))

    def activation(self, attrs: dict, bound: float) -> tuple[dict, float]:
        """CONV2D, LINEAR and ADD attributes with a drawn fused activation (when enabled), and the result bound."""
        spec = self.draw(fused_activations()) if self.activations else None
        if spec is not None:
            bound = min(bound, 6.0) if spec[0] == "CLAMP" else max(bound, 0.375)  # RELU, HARDSWISH: as unary
        return {**attrs, "activation": spec}, bound

    def maybe_batchnorm(self, x: str | None) -> str | None:
        """Half the time, follow x (a CONV2D or LINEAR output) with BATCH_NORM, as trained models do."""
        if x is None or not self.batchnorm or not self.draw(st.booleans()):
            return x
        return _batch_norm(self, Op.BATCH_NORM, x) or x


def _broadcasts(a: Sequence[int], b: Sequence[int]) -> bool:
    try:
        return math.prod(np.broadcast_shapes(tuple(a), tuple(b))) <= MAX_NUMEL
    except ValueError:
        return False


def _unary(bound: Callable[[float], float]):
    def make(s: _State, op: Op, x: str) -> str | None:
        return s.node(op, [x], s.draw(attributes(op, s.type(x))), bound(s.bound[x]))
    return make


def _chain(s: _State, op: Op, x: str) -> str | None:
    """One to three data movements in a row: what merge rules look for."""
    for _ in range(s.draw(st.integers(1, 3))):
        x = x and s.node(op, [x], s.draw(attributes(op, s.type(x))), s.bound[x])
    return x


def _clamp(s: _State, op: Op, x: str) -> str | None:
    attrs = s.draw(attributes(op, s.type(x)))
    lo, hi = attrs["min"], attrs["max"]
    bound = max(abs(lo), abs(hi)) if lo is not None and hi is not None else \
        max([s.bound[x]] + [abs(v) for v in (lo, hi) if v is not None])
    return s.node(op, [x], attrs, bound)


def _exp(s: _State, op: Op, x: str) -> str | None:
    if s.bound[x] > 4.0:
        x = s.node(Op.CLAMP, [x], {"min": -4.0, "max": 4.0}, 4.0)
    return x and s.node(op, [x], None, math.exp(s.bound[x]))


def _of_positive(bound: Callable[[float, float], float]):
    """LOG, SQRT, RSQRT of abs(x) + c; `bound(b, c)` bounds the result for |x| <= b."""
    def make(s: _State, op: Op, x: str) -> str | None:
        p, c = s.positive(x)
        return p and s.node(op, [p], None, bound(s.bound[x], c))
    return make


def _pow(s: _State, op: Op, x: str) -> str | None:
    """x ** 2 or x ** 3 of any x, or (abs(x) + c) ** 0.5 (a fractional power of a negative base is NaN)."""
    exponent = s.draw(st.sampled_from([2.0, 3.0, 0.5]))
    base, c = s.positive(x) if exponent == 0.5 else (x, 0.0)
    e = s.const("exponent", np.float32(exponent))
    return base and s.node(op, [base, e], None, (s.bound[x] + c) ** exponent)


def _where(s: _State, op: Op, x: str) -> str | None:
    """where(x > t, x, y): the mask is built beside the values, so no other op reads a bool."""
    threshold = s.const("t", np.float32(s.draw(st.sampled_from([0.0, 0.25, -0.5]))))
    mask = s.builder.op(Op.COMPARE, [x, threshold], {"predicate": s.draw(st.sampled_from(["gt", "le", "ne"]))})
    y = s.operand(x)
    a, b = (x, y) if s.draw(st.booleans()) else (y, x)
    return s.node(op, [mask, a, b], None, max(s.bound[x], s.bound[y]))


def _binary(bound: Callable[[float, float], float], fills: Sequence[str]):
    def make(s: _State, op: Op, x: str) -> str | None:
        y = s.operand(x, fills)
        a, b = (y, x) if s.draw(st.booleans()) else (x, y)
        attrs, b_out = s.activation({}, bound(s.bound[a], s.bound[b])) if op is Op.ADD else \
            ({}, bound(s.bound[a], s.bound[b]))
        return s.node(op, [a, b], attrs, b_out)
    return make


def _div(s: _State, op: Op, x: str) -> str | None:
    y = s.operand(x, ("random", "ones"))
    data = s.builder.constants.get(y)
    if data is not None:  # ones stay ones, so that x / 1 is there to remove
        denominator, c = s.const("d", np.where(data == 1, 1, np.abs(data) + 0.5).astype(np.float32)), 0.5
    else:
        denominator, c = s.positive(y)
    return denominator and s.node(op, [x, denominator], None, s.bound[x] / c)


def _matmul(s: _State, op: Op, x: str) -> str | None:
    k = s.shape(x)[-1]
    others = [v for v in s.values if len(s.shape(v)) >= 2 and s.shape(v)[-2] == k]
    if others and s.draw(st.booleans()):
        y = s.draw(st.sampled_from(others))
    else:
        y = s.uniform("w", (k, s.draw(st.integers(1, 6))))
    try:
        np.broadcast_shapes(s.shape(x)[:-2], s.shape(y)[:-2])
    except ValueError:
        return None
    return s.node(op, [x, y], None, s.bound[x] * s.bound[y] * k)


def _weights(s: _State, shape: Sequence[int], with_bias: bool) -> tuple[list[str], float, float]:
    """Weight (and bias) constants scaled by 1/sqrt(fan_in); returns names, max row sum |W|, max |bias|."""
    fan_in = math.prod(shape[1:])
    w = (s.rng.uniform(-1, 1, tuple(shape)) / math.sqrt(fan_in)).astype(np.float32)
    names = [s.const("weight", w)]
    bias = 0.0
    if with_bias:
        names.append(s.uniform("bias", shape[:1]))
        bias = s.bound[names[-1]]
    return names, float(np.abs(w).reshape(shape[0], -1).sum(axis=1).max()), bias


def _linear(s: _State, op: Op, x: str) -> str | None:
    names, row_sum, bias = _weights(s, (s.draw(st.integers(1, 8)), s.shape(x)[-1]), s.draw(st.booleans()))
    y = s.node(op, [x] + names, *s.activation({}, s.bound[x] * row_sum + bias))
    return s.maybe_batchnorm(y) if y and len(s.shape(y)) == 2 else y


def _conv2d(s: _State, op: Op, x: str) -> str | None:
    kernel = (s.draw(st.integers(1, 3)), s.draw(st.integers(1, 3)))
    attrs = s.draw(attributes(op, s.type(x), kernel=kernel))
    c, h, w = s.shape(x)[1:]
    (pt, pl, pb, pr), groups = attrs["padding"], attrs["groups"]
    kernel = tuple(min(k, (size + lo + hi - 1) // d + 1) for k, size, lo, hi, d in
                   ((kernel[0], h, pt, pb, attrs["dilation"][0]), (kernel[1], w, pl, pr, attrs["dilation"][1])))
    out = groups * s.draw(st.integers(1, max(1, 8 // groups)))
    names, row_sum, bias = _weights(s, (out, c // groups) + kernel, s.draw(st.booleans()))
    return s.maybe_batchnorm(s.node(op, [x] + names, *s.activation(attrs, s.bound[x] * row_sum + bias)))


def _pool(s: _State, op: Op, x: str) -> str | None:
    attrs = s.draw(attributes(op, s.type(x)))
    gain = math.prod(attrs["kernel"]) / attrs["divisor"] if attrs.get("divisor") else 1.0
    return s.node(op, [x], attrs, s.bound[x] * max(gain, 1.0))


def _reduce(s: _State, op: Op, x: str) -> str | None:
    attrs = s.draw(attributes(op, s.type(x)))
    count = math.prod(s.shape(x)[a] for a in attrs["axes"]) if op is Op.SUM else 1
    return s.node(op, [x], attrs, s.bound[x] * count)


def _concat(s: _State, op: Op, x: str) -> str | None:
    axis = s.draw(attributes(op, s.type(x)))["axis"]
    shape = s.shape(x)
    parts = [x]
    for _ in range(s.draw(st.integers(0, 2))):
        fits = [v for v in s.values if len(s.shape(v)) == len(shape) and all(
            a == b for i, (a, b) in enumerate(zip(s.shape(v), shape)) if i != axis)]
        if fits and s.draw(st.booleans()):
            parts.append(s.draw(st.sampled_from(fits)))
        else:
            parts.append(s.uniform("part", shape[:axis] + (s.draw(st.integers(1, 3)),) + shape[axis + 1:]))
    parts = s.draw(st.permutations(parts))
    return s.node(op, parts, {"axis": axis}, max(s.bound[p] for p in parts))


def _pad(s: _State, op: Op, x: str) -> str | None:
    attrs = s.draw(attributes(op, s.type(x)))
    return s.node(op, [x], attrs, max(s.bound[x], abs(attrs["value"])))


def _gather(s: _State, op: Op, x: str) -> str | None:
    rows = s.shape(x)[0]
    shape = s.draw(st.sampled_from([(3,), (2, 2), (1,), (4,)]))
    indices = s.const("indices", s.rng.integers(0, rows, shape).astype(np.int64))
    return s.node(op, [x, indices], None, s.bound[x])


def _layer_norm(s: _State, op: Op, x: str) -> str | None:
    attrs = s.draw(attributes(op, s.type(x)))
    affine = s.shape(x)[len(s.shape(x)) - attrs["normalized_ndim"]:]
    count = s.draw(st.integers(0, 2))  # no affine parameters, weight only, or weight and bias
    params = [s.uniform(*spec) for spec in [("ln_weight", affine, 0.5, 1.5), ("ln_bias", affine)][:count]]
    # |(x - mean) / std| <= sqrt(n - 1) for a group of n values
    bound = math.sqrt(max(math.prod(affine) - 1, 1)) * (1.5 if params else 1.0) + (1.0 if len(params) == 2 else 0.0)
    return s.node(op, [x] + params, attrs, bound)


def _batch_norm(s: _State, op: Op, x: str) -> str | None:
    c = s.shape(x)[1]
    attrs = s.draw(attributes(op, s.type(x)))
    mean, var = s.uniform("mean", (c,)), s.uniform("var", (c,), 0.5, 2.0)
    weight, bias = s.uniform("bn_weight", (c,), -1.5, 1.5), s.uniform("bn_bias", (c,))
    bound = (s.bound[x] + 1.0) / math.sqrt(0.5) * 1.5 + 1.0
    return s.node(op, [x, mean, var, weight, bias], attrs, bound)


def _rank_at_least(n: int) -> Callable[[TensorType], bool]:
    return lambda t: len(t.shape) >= n


def _rank(n: int) -> Callable[[TensorType], bool]:
    return lambda t: len(t.shape) == n


_any = _rank_at_least(0)

# op -> (accepts the first operand's type, adds the node and any guards; returns the new value or None)
_GENERATORS: dict[Op, tuple[Callable[[TensorType], bool], Callable[[_State, Op, str], str | None]]] = {
    Op.CONV2D: (_rank(4), _conv2d),
    Op.LINEAR: (_rank_at_least(1), _linear),
    Op.MATMUL: (_rank_at_least(2), _matmul),
    Op.ADD: (_any, _binary(lambda a, b: a + b, ("random", "zeros"))),
    Op.SUB: (_any, _binary(lambda a, b: a + b, ("random", "zeros"))),
    Op.MUL: (_any, _binary(lambda a, b: a * b, ("random", "ones"))),
    Op.DIV: (_any, _div),
    Op.MAXIMUM: (_any, _binary(max, ("random",))),
    Op.MINIMUM: (_any, _binary(max, ("random",))),
    Op.RELU: (_any, _unary(lambda b: b)),
    Op.CLAMP: (_any, _clamp),
    Op.HARDSWISH: (_any, _unary(lambda b: max(b, 0.375))),
    Op.HARDSIGMOID: (_any, _unary(lambda b: 1.0)),
    Op.SIGMOID: (_any, _unary(lambda b: 1.0)),
    Op.TANH: (_any, _unary(lambda b: min(b, 1.0))),
    Op.GELU: (_any, _unary(lambda b: b + 0.2)),
    Op.SILU: (_any, _unary(lambda b: max(b, 0.3))),
    Op.EXP: (_any, _exp),
    Op.LOG: (_any, _of_positive(lambda b, c: max(abs(math.log(c)), math.log(b + c)))),
    Op.SQRT: (_any, _of_positive(lambda b, c: math.sqrt(b + c))),
    Op.RSQRT: (_any, _of_positive(lambda b, c: 1 / math.sqrt(c))),
    Op.NEG: (_any, _unary(lambda b: b)),
    Op.ABS: (_any, _unary(lambda b: b)),
    Op.ERF: (_any, _unary(lambda b: 1.0)),
    **{op: (_any, _unary(lambda b: b + 1.0)) for op in (Op.FLOOR, Op.CEIL, Op.ROUND, Op.TRUNC)},
    Op.POW: (_any, _pow),
    Op.WHERE: (_any, _where),
    Op.MAX_POOL2D: (_rank(4), _pool),
    Op.AVG_POOL2D: (_rank(4), _pool),
    Op.MEAN: (_rank_at_least(1), _reduce),
    Op.SUM: (_rank_at_least(1), _reduce),
    Op.REDUCE_MAX: (_rank_at_least(1), _reduce),
    Op.REDUCE_MIN: (_rank_at_least(1), _reduce),
    Op.ADAPTIVE_AVG_POOL2D: (_rank(4), _unary(lambda b: b)),
    Op.ADAPTIVE_MAX_POOL2D: (_rank(4), _unary(lambda b: b)),
    Op.RESIZE_BILINEAR: (_rank(4), _unary(lambda b: b)),
    Op.RESHAPE: (_any, _chain),
    Op.PERMUTE: (_rank_at_least(1), _chain),
    Op.CONCAT: (_rank_at_least(1), _concat),
    Op.SLICE: (_rank_at_least(1), _unary(lambda b: b)),
    Op.EXPAND: (_any, _unary(lambda b: b)),
    Op.PAD: (_rank_at_least(1), _pad),
    Op.UPSAMPLE_NEAREST: (_rank(4), _unary(lambda b: b)),
    Op.GATHER: (_rank(2), _gather),
    Op.SOFTMAX: (_rank_at_least(1), _unary(lambda b: 1.0)),
    Op.LOG_SOFTMAX: (_rank_at_least(1), lambda s, op, x: s.node(
        op, [x], s.draw(attributes(op, s.type(x))), 2 * s.bound[x] + math.log(max(s.shape(x))))),
    Op.LAYER_NORM: (_rank_at_least(1), _layer_norm),
    Op.BATCH_NORM: (_rank_at_least(2), _batch_norm),
}

# The ops `graphs` draws from: every float op, on float32 values (GATHER's indices are int64 constants, WHERE's mask a
# COMPARE that no other op reads). Integer ops (and their passes) get their own generators beside these.
FLOAT_OPS: frozenset[Op] = frozenset(_GENERATORS)


@st.composite
def graphs(draw, ops: Iterable[Op] = FLOAT_OPS, max_nodes: int = 8, max_inputs: int = 2, max_outputs: int = 3,
           fused: bool = True) -> Graph:
    """A random well-formed float32 graph of about `max_nodes` nodes over `ops` (plus the guard nodes ABS, ADD,
    CLAMP that keep LOG, SQRT, RSQRT, DIV and EXP finite, and BATCH_NORM after CONV2D/LINEAR when BATCH_NORM is in
    `ops`). With `fused`, CONV2D, LINEAR and ADD sometimes carry a fused `activation`."""
    ops = sorted(set(ops), key=lambda o: o.value)
    if set(ops) - FLOAT_OPS:
        raise ValueError(f"graphs() has no generator for {sorted(o.name for o in set(ops) - FLOAT_OPS)}")
    s = _State(draw, np.random.default_rng(draw(st.integers(0, 2**32 - 1))), batchnorm=Op.BATCH_NORM in ops,
               activations=fused)
    for i in range(draw(st.integers(1, max_inputs))):
        shape = draw(st.one_of(image_shapes(), shapes(min_rank=1)))
        x = s.builder.input(f"x{i}", TensorType(shape))
        s.bound[x] = INPUT_BOUND
        s.values.append(x)
    if draw(st.booleans()):  # a constant root: every op on it (and on what follows) folds
        s.values.append(s.uniform("k", draw(st.one_of(image_shapes(), shapes(min_rank=1)))))
    for _ in range(draw(st.integers(1, max_nodes))):
        # Most recent first, so chains (RESHAPE of RESHAPE, CONV2D -> BATCH_NORM -> RELU) are common.
        x = s.values[len(s.values) - 1 - draw(st.integers(0, len(s.values) - 1))]
        applicable = [op for op in ops if _GENERATORS[op][0](s.type(x))]
        if applicable:
            op = draw(st.sampled_from(applicable))
            _GENERATORS[op][1](s, op, x)
    if not s.produced:
        s.node(Op.RELU, [s.builder.inputs[0]], None, INPUT_BOUND)
    # Outputs: the last value, then mostly values nothing reads (so that most nodes are live), sometimes one that
    # other nodes read too. What reaches no output is dead code, which passes must drop.
    used = {i for node in s.builder.nodes for i in node.inputs}
    sinks = [v for v in s.produced[:-1] if v not in used]
    extra = draw(st.lists(st.sampled_from(sinks), max_size=max_outputs - 1, unique=True)) if sinks else []
    if len(extra) < max_outputs - 1 and draw(st.booleans()):
        extra.append(draw(st.sampled_from(s.produced)))
    for name in dict.fromkeys([s.produced[-1]] + extra):
        s.builder.output(name)
    return s.builder.build()


def _random_array(rng: np.random.Generator, t: TensorType) -> np.ndarray:
    if t.dtype.is_float:
        return rng.uniform(-INPUT_BOUND, INPUT_BOUND, t.shape).astype(t.dtype.numpy)
    info = np.iinfo(t.dtype.numpy)
    return rng.integers(max(info.min, -128), min(info.max, 127), t.shape, endpoint=True).astype(t.dtype.numpy)


def inputs_for(graph: Graph) -> st.SearchStrategy:
    """One array per graph input: floats uniform in [-1, 1], integers in [-128, 127]."""
    return st.integers(0, 2**32 - 1).map(np.random.default_rng).map(
        lambda rng: [_random_array(rng, graph.types[name]) for name in graph.inputs])


@st.composite
def graph_and_inputs(draw, **graph_options) -> tuple[Graph, list[np.ndarray]]:
    graph = draw(graphs(**graph_options))
    return graph, draw(inputs_for(graph))
