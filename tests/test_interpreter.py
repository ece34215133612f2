"""The reference interpreter against PyTorch eager, op by op, and the arena simulation of planned schedules.

Float results must agree with torch within rtol 1e-5 and an absolute slack of 1e-5 * max|ref| (the interpreter
rounds a float64 computation once; torch computes in float32). Where torch's float32 arithmetic cancels (sums in
convolutions, matmuls and reductions, GELU's negative tail, folded batch norm) the slack scales with the magnitude
of the cancelling terms instead. Data movement, integer ops and the exactly rounded float ops (ADD, SUB, MUL, DIV, ...) must agree bit
for bit.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, strategies as st
from hypothesis.extra import numpy as hnp

from edgelower.interp import IMPLS, evaluate_node, run_graph, run_schedule
from edgelower.interp.integer import INTEGER_IMPLS
from edgelower.interp.primitives import PRIMITIVE_IMPLS
from edgelower.ir.graph import DType, GraphBuilder, Node, Op, TensorType
from edgelower.ir.schedule import linearize
from edgelower.passes.memory.plan_memory import DEFAULT_ALIGNMENT as ARENA_ALIGN

COVERED: set[Op] = set()


def covers(*ops: Op):
    """Marks a test as checking `ops` against torch; `test_every_op_is_tested` holds the set to `set(Op)`."""
    COVERED.update(ops)
    return lambda test: test


def run_op(op: Op, arrays, attrs=None) -> np.ndarray:
    """One node on graph inputs `arrays`, through GraphBuilder (so ops.py type inference is checked too)."""
    b = GraphBuilder("one_op")
    names = [b.input(f"in{i}", TensorType(a.shape, DType.of(a.dtype))) for i, a in enumerate(arrays)]
    b.output(b.op(op, names, dict(attrs or {})))
    (out,) = run_graph(b.build(), list(arrays))
    return out


def t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a))


def assert_close(got: np.ndarray, ref: torch.Tensor, rtol: float = 1e-5, scale: float = 0.0) -> None:
    """rtol, plus an absolute slack of rtol * max(max|ref|, scale). Differences below 1e-36 do not count: torch's
    float32 kernels underflow where exp(-x) overflows (silu(-89) is -0 in torch, -1.98e-37 exactly)."""
    ref = ref.numpy()
    assert got.dtype == ref.dtype and got.shape == ref.shape, (got.dtype, got.shape, ref.dtype, ref.shape)
    finite = np.abs(ref[np.isfinite(ref)])
    atol = max(rtol * max(float(finite.max(initial=0.0)), scale), 1e-36)
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol, equal_nan=True)


def assert_exact(got: np.ndarray, ref: torch.Tensor) -> None:
    ref = ref.numpy()
    assert got.dtype == ref.dtype and got.shape == ref.shape, (got.dtype, got.shape, ref.dtype, ref.shape)
    np.testing.assert_array_equal(got, ref)


@st.composite
def dense(draw, shape, lo=-1.0, hi=1.0, dtype=np.float32):
    """A larger array from a drawn seed: cheap for hypothesis, values spread over [lo, hi)."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    if np.dtype(dtype).kind == "f":
        return rng.uniform(lo, hi, size=shape).astype(dtype)
    return rng.integers(lo, hi, size=shape, endpoint=True).astype(dtype)


def floats(lo=-20.0, hi=20.0):
    return st.floats(lo, hi, width=32)


shapes = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5)
any_dtype = st.sampled_from([np.float32, np.int8, np.int32, np.int64])


def elements(dtype):
    return floats() if np.dtype(dtype).kind == "f" else st.integers(np.iinfo(dtype).min, np.iinfo(dtype).max)


@st.composite
def tensors(draw, dtype=np.float32, shape=shapes):
    dtype = draw(dtype) if isinstance(dtype, st.SearchStrategy) else dtype
    return draw(hnp.arrays(dtype, draw(shape), elements=elements(dtype)))


@covers(Op.CONV2D)
@given(st.data())
def test_conv2d(data):
    d = data.draw
    n, groups, cin, cout = d(st.integers(1, 2)), d(st.integers(1, 3)), d(st.integers(1, 3)), d(st.integers(1, 3))
    kh, kw, sh, sw, dh, dw = (d(st.integers(1, 3)) for _ in range(6))
    pads = tuple(d(st.integers(0, 2)) for _ in range(4))  # (top, left, bottom, right)
    h, w = d(st.integers(1, 9)), d(st.integers(1, 9))
    assume(h + pads[0] + pads[2] > dh * (kh - 1) and w + pads[1] + pads[3] > dw * (kw - 1))
    x = d(dense((n, cin * groups, h, w)))
    weight = d(dense((cout * groups, cin, kh, kw)))
    bias = d(st.one_of(st.none(), dense((cout * groups,))))
    args = [x, weight] + ([] if bias is None else [bias])
    got = run_op(Op.CONV2D, args, {"stride": (sh, sw), "padding": pads, "dilation": (dh, dw), "groups": groups})
    xp = F.pad(t(x), (pads[1], pads[3], pads[0], pads[2]))
    ref = F.conv2d(xp, t(weight), None if bias is None else t(bias), (sh, sw), 0, (dh, dw), groups)
    terms = F.conv2d(xp.abs(), t(weight).abs(), None, (sh, sw), 0, (dh, dw), groups)  # what float32 sums cancel
    assert_close(got, ref, scale=float(terms.max()) + (0.0 if bias is None else float(np.abs(bias).max())))


@covers(Op.LINEAR)
@given(st.data())
def test_linear(data):
    d = data.draw
    batch = d(hnp.array_shapes(min_dims=0, max_dims=2, max_side=4))
    fin, fout = d(st.integers(1, 16)), d(st.integers(1, 8))
    x, weight = d(dense(batch + (fin,))), d(dense((fout, fin)))
    bias = d(st.one_of(st.none(), dense((fout,))))
    args = [x, weight] + ([] if bias is None else [bias])
    terms = (np.abs(x) @ np.abs(weight).T).max(initial=0.0) + (0.0 if bias is None else np.abs(bias).max())
    ref = F.linear(t(x), t(weight), None if bias is None else t(bias))
    assert_close(run_op(Op.LINEAR, args), ref, scale=float(terms))


@covers(Op.MATMUL)
@given(st.data())
def test_matmul_broadcasts_batch_dims(data):
    d = data.draw
    ba, bb = d(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3)).input_shapes
    m, k, n = d(st.integers(1, 6)), d(st.integers(1, 12)), d(st.integers(1, 6))
    a, b = d(dense(ba + (m, k))), d(dense(bb + (k, n)))
    terms = float((np.abs(a) @ np.abs(b)).max())
    assert_close(run_op(Op.MATMUL, [a, b]), torch.matmul(t(a), t(b)), scale=terms)


@given(dense((3, 4, 5), -100, 100, np.int32), dense((5, 2), -100, 100, np.int32))
def test_matmul_int32_accumulates_exactly(a, b):
    assert_exact(run_op(Op.MATMUL, [a, b]), torch.matmul(t(a), t(b)))


BINARY = {Op.ADD: torch.add, Op.SUB: torch.sub, Op.MUL: torch.mul, Op.DIV: torch.div,
          Op.MAXIMUM: torch.maximum, Op.MINIMUM: torch.minimum}


@covers(*BINARY)
@given(st.sampled_from(sorted(BINARY, key=lambda op: op.name)),
       st.sampled_from([np.float32, np.int8, np.int32]), st.data())
def test_binary_broadcasts_and_is_exact(op, dtype, data):
    if op is Op.DIV:
        dtype = np.float32  # integer division is not defined in the IR
    sa, sb = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=4)).input_shapes
    a, b = data.draw(tensors(dtype, st.just(sa))), data.draw(tensors(dtype, st.just(sb)))
    assert_exact(run_op(op, [a, b]), BINARY[op](t(a), t(b)))  # wraps on integers, correctly rounded on floats


@covers(Op.RELU, Op.NEG, Op.ABS)
@given(st.sampled_from([(Op.RELU, torch.relu), (Op.NEG, torch.neg), (Op.ABS, torch.abs)]), tensors(any_dtype))
def test_dtype_generic_unary(case, x):
    op, fn = case
    assert_exact(run_op(op, [x]), fn(t(x)))


@covers(Op.CLAMP)
@given(tensors(any_dtype), st.data())
def test_clamp_with_optional_bounds(x, data):
    bound = st.one_of(st.none(), st.integers(-50, 50) if x.dtype.kind == "i" else floats())
    lo, hi = data.draw(bound), data.draw(bound)
    ref = t(x) if lo is None and hi is None else torch.clamp(t(x), lo, hi)
    assert_exact(run_op(Op.CLAMP, [x], {"min": lo, "max": hi}), ref)


FLOAT_UNARY = {Op.HARDSWISH: F.hardswish, Op.HARDSIGMOID: F.hardsigmoid, Op.SIGMOID: torch.sigmoid,
               Op.TANH: torch.tanh, Op.SILU: F.silu, Op.EXP: torch.exp, Op.LOG: torch.log, Op.SQRT: torch.sqrt,
               Op.RSQRT: torch.rsqrt, Op.ERF: torch.erf}


@covers(*FLOAT_UNARY)
@given(st.sampled_from(sorted(FLOAT_UNARY, key=lambda op: op.name)), st.data())
def test_float_unary(op, data):
    lo = 0.0 if op in (Op.LOG, Op.SQRT, Op.RSQRT) and data.draw(st.booleans()) else -100.0
    x = data.draw(hnp.arrays(np.float32, shapes, elements=floats(lo, 100.0)))
    assert_close(run_op(op, [x]), FLOAT_UNARY[op](t(x)))


ROUNDINGS = {Op.FLOOR: torch.floor, Op.CEIL: torch.ceil, Op.ROUND: torch.round, Op.TRUNC: torch.trunc}


@covers(*ROUNDINGS)
@given(st.sampled_from(sorted(ROUNDINGS, key=lambda op: op.name)),
       hnp.arrays(np.float32, shapes, elements=st.one_of(floats(-100, 100), st.sampled_from([0.5, -0.5, 2.5, -3.5]))))
def test_roundings(op, x):
    assert_exact(run_op(op, [x]), ROUNDINGS[op](t(x)))  # ROUND: half to even, as torch


@covers(Op.POW)
@given(hnp.arrays(np.float32, shapes, elements=floats(-4, 4)), st.sampled_from([0.0, 1.0, 2.0, 3.0, -1.0, 0.5, 1.7]))
def test_pow_with_a_scalar_exponent(x, exponent):
    e = np.full((1,), exponent, np.float32)
    assert_close(run_op(Op.POW, [x, e]), torch.pow(t(x), t(e)))  # NaN for a negative base and a fractional power


@covers(Op.GELU)
@given(st.sampled_from(["none", "tanh"]), hnp.arrays(np.float32, shapes, elements=floats(-30, 30)))
def test_gelu(approximate, x):
    # torch forms 1 + erf(x / sqrt 2) in float32, which cancels for negative x: its error is about |x| * 2**-25
    # (gelu(-4) is -1.26720e-4 in torch, -1.26685e-4 exactly); hence the slack scaled by max|x|.
    got = run_op(Op.GELU, [x], {"approximate": approximate})
    assert_close(got, F.gelu(t(x), approximate=approximate), scale=float(np.abs(x).max(initial=0.0)))


SPECIAL = np.array([0.0, -0.0, 1e-30, -1e-30, 1e-40, 88.0, 89.0, -104.0, 1e30, -1e30, np.inf, -np.inf, np.nan],
                   np.float32)


@pytest.mark.parametrize("op", sorted(FLOAT_UNARY, key=lambda op: op.name))
def test_float_unary_special_values_match_torch(op):
    assert_close(run_op(op, [SPECIAL]), FLOAT_UNARY[op](t(SPECIAL)))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_special_values_match_torch(approximate):
    got = run_op(Op.GELU, [SPECIAL], {"approximate": approximate})
    ref = F.gelu(t(SPECIAL), approximate=approximate)
    if approximate == "none":
        # torch's float32 erf-GELU gives nan at +inf (its float64 kernel and the formula give +inf); the IR says +inf.
        plus_inf = SPECIAL == np.inf
        assert got[plus_inf] == np.inf
        ref[t(plus_inf)] = np.inf
    assert_close(got, ref)


@st.composite
def pool_cases(draw, dtype=np.float32):
    """Symmetric padding within torch's limit (pad <= kernel // 2), any ceil_mode: torch's own arguments."""
    kh, kw, sh, sw = (draw(st.integers(1, 4)) for _ in range(4))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    h, w = draw(st.integers(kh, 10)), draw(st.integers(kw, 10))
    x = draw(dense((draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w), -50, 50, dtype))
    attrs = {"kernel": (kh, kw), "stride": (sh, sw), "padding": (ph, pw, ph, pw), "ceil_mode": draw(st.booleans())}
    return x, attrs


@covers(Op.MAX_POOL2D)
@given(pool_cases(), st.integers(1, 2), st.integers(1, 2), st.sampled_from([np.float32, np.int32]), st.data())
def test_max_pool2d(case, dh, dw, dtype, data):
    x, attrs = case
    (kh, kw), (ph, pw) = attrs["kernel"], attrs["padding"][:2]
    assume(x.shape[2] + 2 * ph > dh * (kh - 1) and x.shape[3] + 2 * pw > dw * (kw - 1))
    x = x.astype(dtype)
    ref = F.max_pool2d(t(x), (kh, kw), attrs["stride"], (ph, pw), (dh, dw), ceil_mode=attrs["ceil_mode"])
    assert_exact(run_op(Op.MAX_POOL2D, [x], {**attrs, "dilation": (dh, dw)}), ref)


@covers(Op.AVG_POOL2D)
@given(pool_cases(), st.booleans(), st.one_of(st.none(), st.integers(1, 7)))
def test_avg_pool2d(case, count_include_pad, divisor):
    x, attrs = case
    (ph, pw) = attrs["padding"][:2]
    ref = F.avg_pool2d(t(x), attrs["kernel"], attrs["stride"], (ph, pw), attrs["ceil_mode"], count_include_pad,
                       divisor)
    got = run_op(Op.AVG_POOL2D, [x], {**attrs, "count_include_pad": count_include_pad, "divisor": divisor})
    assert_close(got, ref)


@given(pool_cases(), st.tuples(*[st.integers(0, 2)] * 4), st.sampled_from([Op.MAX_POOL2D, Op.AVG_POOL2D]))
def test_pools_with_asymmetric_padding_equal_explicit_padding(case, pads, op):
    x, attrs = case
    fill = -np.inf if op is Op.MAX_POOL2D else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])), constant_values=fill)
    attrs = {**attrs, "ceil_mode": False}
    assume(xp.shape[2] >= attrs["kernel"][0] and xp.shape[3] >= attrs["kernel"][1])
    got = run_op(op, [x], {**attrs, "padding": pads})
    np.testing.assert_allclose(got, run_op(op, [xp], {**attrs, "padding": (0, 0, 0, 0)}), rtol=1e-6)


REDUCTIONS = {Op.MEAN: torch.mean, Op.SUM: torch.sum, Op.REDUCE_MAX: torch.amax, Op.REDUCE_MIN: torch.amin}


@covers(*REDUCTIONS)
@given(st.sampled_from(sorted(REDUCTIONS, key=lambda op: op.name)), st.sampled_from([np.float32, np.int32]),
       st.booleans(), st.data())
def test_reductions(op, dtype, keepdim, data):
    if op is Op.MEAN:
        dtype = np.float32
    x = data.draw(tensors(dtype))
    axes = tuple(sorted(data.draw(st.sets(st.integers(0, x.ndim - 1), min_size=1))))
    ref = REDUCTIONS[op](t(x), dim=axes, keepdim=keepdim).to(t(x).dtype)  # torch sums int32 into int64; the IR wraps
    got = run_op(op, [x], {"axes": axes, "keepdim": keepdim})
    if dtype == np.float32 and op not in (Op.REDUCE_MAX, Op.REDUCE_MIN):
        assert_close(got, ref, scale=float(REDUCTIONS[op](t(np.abs(x)), dim=axes).max()))
    else:
        assert_exact(got, ref)


@covers(Op.ARGMAX, Op.ARGMIN)
@given(st.sampled_from([(Op.ARGMAX, torch.argmax), (Op.ARGMIN, torch.argmin)]), st.sampled_from([np.float32, np.int8]),
       st.booleans(), st.data())
def test_arg_extremes_give_the_first_index(case, dtype, keepdim, data):
    op, fn = case
    x = data.draw(tensors(dtype, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)))
    x = np.round(x / 8) if dtype == np.float32 else x // 64  # ties, so that "the first" is tested
    axis = data.draw(st.integers(0, x.ndim - 1))
    assert_exact(run_op(op, [x], {"axis": axis, "keepdim": keepdim}), fn(t(x), dim=axis, keepdim=keepdim))


@covers(Op.ADAPTIVE_AVG_POOL2D, Op.ADAPTIVE_MAX_POOL2D)
@given(st.sampled_from([(Op.ADAPTIVE_AVG_POOL2D, F.adaptive_avg_pool2d),
                        (Op.ADAPTIVE_MAX_POOL2D, F.adaptive_max_pool2d)]),
       st.integers(1, 9), st.integers(1, 9), st.integers(1, 9), st.integers(1, 9), st.data())
def test_adaptive_pools_read_torchs_uneven_windows(case, h, w, oh, ow, data):
    op, fn = case
    x = data.draw(dense((2, 3, h, w), -10, 10))
    assert_close(run_op(op, [x], {"size": (oh, ow)}), fn(t(x), (oh, ow)))


@covers(Op.RESIZE_BILINEAR)
@given(st.integers(1, 7), st.integers(1, 7), st.integers(1, 12), st.integers(1, 12), st.booleans(), st.data())
def test_resize_bilinear_is_torchs(h, w, oh, ow, align_corners, data):
    x = data.draw(dense((1, 2, h, w), -10, 10))
    ref = F.interpolate(t(x), size=(oh, ow), mode="bilinear", align_corners=align_corners)
    assert_close(run_op(Op.RESIZE_BILINEAR, [x], {"size": (oh, ow), "align_corners": align_corners}), ref)


@given(st.integers(2, 6), st.integers(2, 6), st.sampled_from([0.5, 1.5, 1.7, 2.0, 3.3]), st.data())
def test_resize_bilinear_steps_by_torchs_scale_factor(h, w, factor, data):
    x = data.draw(dense((1, 1, h, w), -10, 10))
    ref = F.interpolate(t(x), scale_factor=factor, mode="bilinear", recompute_scale_factor=False)
    step = float(np.float32(1.0 / factor))
    got = run_op(Op.RESIZE_BILINEAR, [x], {"size": tuple(ref.shape[2:]), "scale": (step, step)})
    assert_close(got, ref)


@covers(Op.RESHAPE)
@given(tensors(any_dtype), st.data())
def test_reshape(x, data):
    dims = list(data.draw(st.permutations(x.shape)))
    merged = [dims[0]]
    for dim in dims[1:]:
        if data.draw(st.booleans()):
            merged[-1] *= dim
        else:
            merged.append(dim)
    shape = tuple(merged) + (1,) * data.draw(st.integers(0, 1))
    assert_exact(run_op(Op.RESHAPE, [x], {"shape": shape}), t(x).reshape(shape))


@covers(Op.PERMUTE)
@given(tensors(any_dtype), st.data())
def test_permute(x, data):
    perm = tuple(data.draw(st.permutations(range(x.ndim))))
    assert_exact(run_op(Op.PERMUTE, [x], {"perm": perm}), t(x).permute(perm))


@covers(Op.CONCAT)
@given(tensors(any_dtype), st.data())
def test_concat(x, data):
    axis = data.draw(st.integers(0, x.ndim - 1))
    parts = [x]
    for _ in range(data.draw(st.integers(0, 3))):
        shape = x.shape[:axis] + (data.draw(st.integers(1, 4)),) + x.shape[axis + 1:]
        parts.append(data.draw(tensors(x.dtype.type, st.just(shape))))
    assert_exact(run_op(Op.CONCAT, parts, {"axis": axis}), torch.cat([t(p) for p in parts], axis))


@covers(Op.SLICE)
@given(tensors(any_dtype), st.data())
def test_slice(x, data):
    axis = data.draw(st.integers(0, x.ndim - 1))
    start = data.draw(st.integers(0, x.shape[axis] - 1))
    end, step = data.draw(st.integers(start + 1, x.shape[axis])), data.draw(st.integers(1, 3))
    index = (slice(None),) * axis + (slice(start, end, step),)
    assert_exact(run_op(Op.SLICE, [x], {"axis": axis, "start": start, "end": end, "step": step}), t(x)[index])


@covers(Op.EXPAND)
@given(st.data())
def test_expand(data):
    target = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4))
    kept = target[data.draw(st.integers(0, len(target) - 1)):]
    x = data.draw(tensors(any_dtype, st.just(tuple(data.draw(st.sampled_from([1, d])) for d in kept))))
    assert_exact(run_op(Op.EXPAND, [x], {"shape": target}), t(x).expand(target))


@covers(Op.PAD)
@given(tensors(any_dtype), st.data())
def test_pad(x, data):
    pads = tuple(tuple(data.draw(st.integers(0, 2)) for _ in range(2)) for _ in range(x.ndim))
    value = data.draw(st.integers(-100, 100) if x.dtype.kind == "i" else floats())
    torch_pads = [p for lo_hi in reversed(pads) for p in lo_hi]  # torch lists the last dim first
    assert_exact(run_op(Op.PAD, [x], {"pads": pads, "value": value}), F.pad(t(x), torch_pads, value=value))


@covers(Op.UPSAMPLE_NEAREST)
@given(st.data(), st.sampled_from([np.float32, np.int32]))
def test_upsample_nearest(data, dtype):
    x = data.draw(dense((1, 2, data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6))), -100, 100, dtype))
    size = (data.draw(st.integers(1, 24)), data.draw(st.integers(1, 24)))
    ref = F.interpolate(t(x).float(), size=size, mode="nearest").to(t(x).dtype)  # exact: small integers
    assert_exact(run_op(Op.UPSAMPLE_NEAREST, [x], {"size": size}), ref)


def test_upsample_nearest_index_is_the_exact_integer_rule():
    # torch computes floor(i * float32(in / out)); the IR's rule is floor(i * in / out) in integers, which the C
    # kernels can compute without float. They part at large non-integer ratios such as 2 -> 82.
    x = np.arange(2, dtype=np.int32).reshape(1, 1, 1, 2)
    got = run_op(Op.UPSAMPLE_NEAREST, [x], {"size": (1, 82)})
    np.testing.assert_array_equal(got.reshape(-1), np.arange(82) * 2 // 82)


@covers(Op.GATHER)
@given(st.integers(1, 10), st.integers(1, 5), st.sampled_from([np.int32, np.int64]),
       st.sampled_from([np.float32, np.int8]), st.data())
def test_gather(vocab, dim, index_dtype, table_dtype, data):
    table = data.draw(dense((vocab, dim), -100, 100, table_dtype))
    idx = data.draw(hnp.arrays(index_dtype, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
                               elements=st.integers(0, vocab - 1)))
    assert_exact(run_op(Op.GATHER, [table, idx]), F.embedding(t(idx), t(table)))


@given(st.sampled_from([np.float32, np.int8]), st.data())
def test_gather_along_any_axis_is_index_select(dtype, data):
    x = data.draw(tensors(dtype, hnp.array_shapes(min_dims=1, max_dims=4, max_side=4)))
    axis = data.draw(st.integers(0, x.ndim - 1))
    idx = data.draw(hnp.arrays(np.int64, st.integers(0, 5), elements=st.integers(0, x.shape[axis] - 1)))
    assert_exact(run_op(Op.GATHER, [x, idx], {"axis": axis}), torch.index_select(t(x), axis, t(idx)))


def test_gather_rejects_out_of_range_indices():
    with pytest.raises(ValueError, match="out of range"):
        run_op(Op.GATHER, [np.zeros((3, 2), np.float32), np.array([0, 3], np.int64)])


@covers(Op.SOFTMAX, Op.LOG_SOFTMAX)
@given(st.sampled_from([(Op.SOFTMAX, F.softmax), (Op.LOG_SOFTMAX, F.log_softmax)]), st.floats(0.1, 200),
       st.data())
def test_softmax_is_stable(case, scale, data):
    op, fn = case
    x = data.draw(tensors(np.float32)) * np.float32(scale)
    axis = data.draw(st.integers(0, x.ndim - 1))
    assert_close(run_op(op, [x], {"axis": axis}), fn(t(x), dim=axis))


@covers(Op.LAYER_NORM)
@given(tensors(np.float32), st.integers(0, 2), st.data())
def test_layer_norm(x, n_affine, data):
    k = data.draw(st.integers(1, x.ndim))
    # torch's float32 mean carries an error of about max|x| * 2**-24, which (x - mean) / std magnifies: compare
    # only rows whose spread keeps that under the tolerance (the interpreter itself computes in float64).
    rows = x.reshape(-1, math.prod(x.shape[x.ndim - k:])).astype(np.float64)
    assume(np.all(rows.std(axis=1) * 1e3 >= np.abs(rows).max(axis=1)) or rows.shape[1] == 1)
    affine = [data.draw(dense(x.shape[x.ndim - k:], -2, 2)) for _ in range(n_affine)]
    got = run_op(Op.LAYER_NORM, [x] + affine, {"normalized_ndim": k, "eps": 1e-5})
    assert_close(got, F.layer_norm(t(x), x.shape[x.ndim - k:], *[t(a) for a in affine], eps=1e-5))


@covers(Op.BATCH_NORM)
@given(st.data(), st.sampled_from([1e-5, 1e-3]))
def test_batch_norm_inference(data, eps):
    x = data.draw(tensors(np.float32, hnp.array_shapes(min_dims=2, max_dims=4, max_side=5)))
    c = x.shape[1]
    mean, weight, bias = (data.draw(dense((c,), -2, 2)) for _ in range(3))
    var = data.draw(dense((c,), 0.0, 3.0))
    got = run_op(Op.BATCH_NORM, [x, mean, var, weight, bias], {"eps": eps})
    ref = F.batch_norm(t(x), t(mean), t(var), t(weight), t(bias), training=False, eps=eps)
    # torch folds to x * alpha + (bias - mean * alpha) in float32, so its error scales with those terms.
    alpha = np.abs(weight / np.sqrt(var.astype(np.float64) + eps))
    terms = np.abs(x).max(initial=0.0) * alpha.max() + np.abs(bias).max() + (np.abs(mean) * alpha).max()
    assert_close(got, ref, scale=float(terms))


@covers(Op.QUANTIZE, Op.DEQUANTIZE)
@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")
@given(st.integers(1, 64), st.floats(1e-3, 1.0), st.integers(-128, 127), st.integers(0, 2 ** 32 - 1))
def test_quantize_and_dequantize_match_torch(n, scale, zero_point, seed):
    x = np.random.default_rng(seed).normal(0, 40 * scale, n).astype(np.float32)
    scaled = x / np.float32(scale)
    x = x[np.abs(scaled - np.trunc(scaled)) != 0.5]  # ties: TFLite rounds away from zero, torch to even
    q = run_op(Op.QUANTIZE, [x], {"scale": scale, "zero_point": zero_point})
    expected = torch.quantize_per_tensor(torch.from_numpy(x), scale, zero_point, torch.qint8)
    np.testing.assert_array_equal(q, expected.int_repr().numpy())
    back = run_op(Op.DEQUANTIZE, [q], {"scale": scale, "zero_point": zero_point})
    np.testing.assert_array_equal(back, expected.dequantize().numpy())


def test_every_op_is_tested():
    # Ops with only an integer form (REQUANTIZE) are held to TFLite Micro in tests/test_tflm_exact.py, the primitive
    # integer ops to scalar transcriptions in tests/test_primitives.py.
    assert set(IMPLS) | set(INTEGER_IMPLS) == set(Op)
    torch_ops = set(IMPLS) - set(PRIMITIVE_IMPLS)
    assert COVERED == torch_ops, f"ops without a torch comparison: {sorted(op.name for op in torch_ops - COVERED)}"


def test_evaluate_node_fills_default_attributes():
    x, w = np.ones((1, 2, 4, 4), np.float32), np.ones((3, 2, 3, 3), np.float32)
    (y,) = evaluate_node(Node(Op.CONV2D, ("x", "w"), ("y",)), [x, w])
    np.testing.assert_array_equal(y, np.full((1, 3, 2, 2), 18.0, np.float32))


def test_evaluate_node_rejects_wrong_arity():
    with pytest.raises(ValueError, match="RELU"):
        evaluate_node(Node(Op.RELU, ("a", "b"), ("y",)), [np.ones(2, np.float32)] * 2)


def chain_graph():
    """x -> sq = x*x -> s = x + sq -> out = s - sq (== x up to rounding): `sq` and `s` are live together."""
    b = GraphBuilder("chain")
    x = b.input("x", TensorType((2, 3)))
    sq = b.op(Op.MUL, [x, x], hint="sq")
    s = b.op(Op.ADD, [x, sq], hint="s")
    b.output(b.op(Op.SUB, [s, sq], hint="out"))
    return b.build()


@pytest.mark.parametrize("bad, message", [
    ([np.ones((2, 4), np.float32)], r"%x: expected float32\[2, 3\], got float32\[2, 4\]"),
    ([np.ones((2, 3), np.float64)], r"%x: expected float32\[2, 3\], got float64\[2, 3\]"),
    ([], "takes 1 inputs"),
])
def test_run_graph_checks_inputs(bad, message):
    with pytest.raises(ValueError, match=message):
        run_graph(chain_graph(), bad)


def cnn_graph():
    rng = np.random.default_rng(0)
    b = GraphBuilder("cnn")
    x = b.input("x", TensorType((1, 2, 6, 6)))
    w = b.constant("w", rng.standard_normal((4, 2, 3, 3)).astype(np.float32))
    y = b.op(Op.RELU, [b.op(Op.CONV2D, [x, w], {"padding": (1, 1, 1, 1)})])
    p = b.op(Op.MAX_POOL2D, [y], {"kernel": (2, 2), "stride": (2, 2)})
    q = b.op(Op.PERMUTE, [p], {"perm": (0, 2, 3, 1)})
    b.output(b.op(Op.RESHAPE, [q], {"shape": (1, 36)}))
    b.output(b.op(Op.MEAN, [y], {"axes": (2, 3)}))
    return b.build()


def planned(graph, offsets=None):
    """linearize(graph) with the given offsets; buffers not named get distinct aligned offsets after them."""
    schedule = linearize(graph)
    offsets = dict(offsets or {})
    end = max((offsets[n] + schedule.buffers[n].nbytes for n in offsets), default=0)
    for buf in schedule.arena_buffers():
        if buf.name not in offsets:
            offsets[buf.name] = end = -(-end // ARENA_ALIGN) * ARENA_ALIGN
            end += buf.nbytes
    buffers = {n: replace(b, offset=offsets.get(n)) for n, b in schedule.buffers.items()}
    return schedule.replace(buffers=buffers, arena_bytes=end)


@pytest.mark.parametrize("graph", [chain_graph(), cnn_graph()], ids=["chain", "cnn"])
def test_run_schedule_with_distinct_offsets_equals_run_graph(graph):
    x = np.random.default_rng(1).standard_normal(graph.types[graph.inputs[0]].shape).astype(np.float32)
    for got, ref in zip(run_schedule(planned(graph), [x]), run_graph(graph, [x])):
        np.testing.assert_array_equal(got, ref)


def test_run_schedule_shares_bytes_between_disjoint_lifetimes():
    graph = chain_graph()
    schedule = planned(graph, {"x": 0, "out": 0})  # x dies at kernel 1, out is born at kernel 2
    assert not schedule.buffers["x"].overlaps_in_time(schedule.buffers["out"])
    x = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(run_schedule(schedule, [x])[0], run_graph(graph, [x])[0])


def test_run_schedule_computes_a_kernel_before_writing_its_output():
    b = GraphBuilder("transpose_in_place")
    x = b.input("x", TensorType((3, 5)))
    b.output(b.op(Op.PERMUTE, [b.op(Op.NEG, [x], hint="n")], {"perm": (1, 0)}, hint="out"))
    graph = b.build()
    x = np.arange(15, dtype=np.float32).reshape(3, 5)
    np.testing.assert_array_equal(run_schedule(planned(graph, {"n": 0, "out": 0}), [x])[0], -x.T)


def test_run_schedule_overlapping_live_buffers_change_the_result():
    graph = chain_graph()
    schedule = planned(graph, {"sq": 0, "s": 0})  # both live at kernels 1 and 2: s overwrites sq
    assert schedule.buffers["sq"].overlaps_in_time(schedule.buffers["s"])
    x = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
    clobbered = run_schedule(schedule, [x])[0]
    np.testing.assert_array_equal(run_graph(graph, [x])[0], x)
    np.testing.assert_array_equal(clobbered, np.zeros_like(x))  # out = s - sq reads s twice


def test_run_schedule_rejects_unplanned_and_overflowing_buffers():
    graph = chain_graph()
    with pytest.raises(ValueError, match="no arena offset"):
        run_schedule(linearize(graph), [np.ones((2, 3), np.float32)])
    schedule = planned(graph)
    with pytest.raises(ValueError, match="does not fit"):
        run_schedule(schedule.replace(arena_bytes=schedule.arena_bytes - 4), [np.ones((2, 3), np.float32)])
