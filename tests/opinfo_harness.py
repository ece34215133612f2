"""PyTorch's own OpInfo samples (torch.testing._internal.common_methods_invocations.op_db, float32, CPU) run through
edgelower for every op it claims: each sample wrapped in a tiny module, compiled for the host, run, and held to
what torch computes.

The claimed OpInfos are those whose ATen name is the base of an overload in `supported_aten_ops()` (the one ATen
table), plus `REACHES_TABLE`: torch functions that reach the table through core ATen's decompositions or capture's
own, each listed with an overload it lands on. A sample's floating-point tensors are the compiled model's inputs;
its integer and boolean tensors (indices, masks) are constants of the module, as a model's index buffers are.

Each sample ends in one of:
- right: compiled, and the compiled model's outputs equal torch's (shape, dtype, NaN positions; values within
  `TOLERANCE` of the largest finite output magnitude);
- refused: a clear refusal before anything is built (UnsupportedOpError, CaptureError, BackendUnsupportedError);
- stateful: refused, for a call that updates state in torch (training-mode batch/instance norm writing running
  statistics, embedding's max_norm renormalizing the table): a compiled graph is a pure function of its inputs, so
  these are refused by design and do not count against the compiled rate;
- wrong: compiled, but a different answer;
- broken: any other failure (a build failure of generated code, an error at call time, an internal error).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

import edgelower
from edgelower.errors import BackendUnsupportedError, CaptureError, UnsupportedOpError
from edgelower.frontend.capture import supported_aten_ops

TOLERANCE = 1e-4
REFUSALS = (UnsupportedOpError, CaptureError, BackendUnsupportedError)

# OpInfo name (and variant) -> an ATen overload of the table its decomposition reaches: the layers and resampling
# models use, and the tensor-manipulation functions that decompose to supported ops.
REACHES_TABLE: dict[tuple[str, str], str] = {
    ("nn.functional.conv1d", ""): "aten.convolution.default",
    ("nn.functional.conv_transpose1d", ""): "aten.convolution.default",
    ("nn.functional.conv_transpose2d", ""): "aten.convolution.default",
    ("nn.functional.group_norm", ""): "aten.native_group_norm.default",
    ("nn.functional.instance_norm", ""): "aten._native_batch_norm_legit.no_stats",
    ("nn.functional.rms_norm", ""): "aten.rsqrt.default",
    ("nn.functional.interpolate", "nearest"): "aten.upsample_nearest2d.vec",
    ("nn.functional.interpolate", "bilinear"): "aten.upsample_bilinear2d.vec",
    ("nn.functional.interpolate", "area"): "aten._adaptive_avg_pool2d.default",
    ("nn.functional.upsample_nearest", ""): "aten.upsample_nearest2d.vec",
    ("nn.functional.upsample_bilinear", ""): "aten.upsample_bilinear2d.vec",
    ("nn.functional.adaptive_avg_pool1d", ""): "aten._adaptive_avg_pool2d.default",
    ("nn.functional.adaptive_max_pool1d", ""): "aten.adaptive_max_pool2d.default",
    ("nn.functional.avg_pool1d", ""): "aten.avg_pool2d.default",
    ("nn.functional.max_pool1d", ""): "aten.max_pool2d_with_indices.default",
    ("nn.functional.pixel_shuffle", ""): "aten.permute.default",
    ("nn.functional.pixel_unshuffle", ""): "aten.permute.default",
    ("nn.functional.channel_shuffle", ""): "aten.permute.default",
    ("nn.functional.prelu", ""): "aten.where.self",
    ("nn.functional.glu", ""): "aten.sigmoid.default",
    ("nn.functional.softsign", ""): "aten.abs.default",
    ("nn.functional.pad", "reflect"): "aten.index.Tensor",
    ("nn.functional.pad", "replicate"): "aten.index.Tensor",
    ("masked_fill", ""): "aten.where.self",
    ("square", ""): "aten.pow.Tensor_Scalar",
    ("true_divide", ""): "aten.div.Tensor",
    ("addcmul", ""): "aten.mul.Tensor",
    ("addcdiv", ""): "aten.div.Tensor",
    ("baddbmm", ""): "aten.bmm.default",
    ("mv", ""): "aten.mm.default",
    ("outer", ""): "aten.mul.Tensor",
    ("stack", ""): "aten.cat.default",
    ("hstack", ""): "aten.cat.default",
    ("vstack", ""): "aten.cat.default",
    ("chunk", ""): "aten.split.Tensor",
    ("movedim", ""): "aten.permute.default",
    ("unflatten", ""): "aten.view.default",
    ("reshape_as", ""): "aten.view.default",
    ("view_as", ""): "aten.view.default",
    ("expand_as", ""): "aten.expand.default",
    ("broadcast_to", ""): "aten.expand.default",
}


def _base(name: str) -> str:
    return name.removeprefix("nn.functional.").removeprefix("torch.ops.aten.").split(".")[0]


def claimed_opinfos() -> list:
    """The OpInfos edgelower claims, in op_db order."""
    from torch.testing._internal.common_methods_invocations import op_db

    bases = {name.split(".")[1] for name in supported_aten_ops() if name.startswith("aten.")}
    table = set(supported_aten_ops())
    for overload in REACHES_TABLE.values():
        assert overload in table, f"{overload} is not in the ATen table"
    return [op for op in op_db if torch.float32 in op.supported_dtypes("cpu")
            and (_base(op.aten_name or op.name) in bases or (op.name, op.variant_test_name) in REACHES_TABLE)]


def _flatten(value, tensors: list) -> object:
    """`value` with every tensor replaced by its index in `tensors`."""
    if isinstance(value, torch.Tensor):
        tensors.append(value)
        return _Slot(len(tensors) - 1)
    if isinstance(value, (list, tuple)):
        return type(value)(_flatten(v, tensors) for v in value)
    if isinstance(value, dict):
        return {k: _flatten(v, tensors) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class _Slot:
    index: int


def _fill(value, tensors):
    if isinstance(value, _Slot):
        return tensors[value.index]
    if isinstance(value, (list, tuple)):
        return type(value)(_fill(v, tensors) for v in value)
    if isinstance(value, dict):
        return {k: _fill(v, tensors) for k, v in value.items()}
    return value


class SampleModule(torch.nn.Module):
    """fn(sample) with the floating-point tensors as forward's arguments and the others as buffers."""

    def __init__(self, fn, sample):
        super().__init__()
        self.fn = fn
        tensors: list[torch.Tensor] = []
        self.spec = _flatten((sample.input, tuple(sample.args), dict(sample.kwargs)), tensors)
        self.runtime = [i for i, t in enumerate(tensors) if t.is_floating_point()]
        for i, t in enumerate(tensors):
            if i not in self.runtime:
                self.register_buffer(f"c{i}", t.detach().clone())
        self.inputs = tuple(tensors[i].detach().clone() for i in self.runtime)
        self.count = len(tensors)

    def forward(self, *xs):
        tensors = [None] * self.count
        for i, x in zip(self.runtime, xs):
            tensors[i] = x
        for i in range(self.count):
            if tensors[i] is None:
                tensors[i] = getattr(self, f"c{i}")
        x, args, kwargs = _fill(self.spec, tensors)
        return self.fn(x, *args, **kwargs)


def _outputs(value) -> list[torch.Tensor] | None:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, torch.Tensor) for v in value):
        return list(value)
    return None


def close(got: np.ndarray, want: np.ndarray) -> bool:
    if got.shape != want.shape or got.dtype != want.dtype:
        return False
    if want.dtype.kind != "f":
        return bool(np.array_equal(got, want))
    if not np.array_equal(np.isnan(got), np.isnan(want)):
        return False
    finite = np.isfinite(want)
    if not np.array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)]):
        return False
    scale = max(float(np.max(np.abs(want[finite]), initial=0.0)), 1e-30)
    return bool(np.all(np.abs(got[finite] - want[finite]) <= TOLERANCE * scale + 1e-6 * np.abs(want[finite])))


@dataclass(frozen=True)
class Outcome:
    op: str
    index: int
    kind: str      # "right", "refused", "stateful", "wrong", "broken", "skipped"
    detail: str = ""


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool(((a == b) | ((a != a) & (b != b))).all())


def run_sample(opinfo, index: int, sample) -> Outcome:
    name = opinfo.name + (f".{opinfo.variant_test_name}" if opinfo.variant_test_name else "")
    module = SampleModule(opinfo.op, sample)
    state = [*module.inputs, *module.buffers()]
    before, versions = [t.clone() for t in state], [t._version for t in state]
    with torch.no_grad():
        try:
            expected = _outputs(module(*module.inputs))
        except Exception as e:  # not a valid call of the op: nothing to hold edgelower to
            return Outcome(name, index, "skipped", f"torch: {type(e).__name__}")
        # torch wrote a tensor it was given: its values changed, or an in-place write bumped its version
        stateful = any(t._version != v or not _same(t, b) for t, v, b in zip(state, versions, before))
        for t, original in zip(state, before):  # edgelower compiles the call torch was given
            t.copy_(original)
    if expected is None or any(t.dtype not in (torch.float32, torch.int64, torch.int32, torch.bool) for t in expected):
        return Outcome(name, index, "skipped", "outputs are not tensors edgelower returns")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cm = edgelower.compile(module, module.inputs)
    except REFUSALS as e:
        return Outcome(name, index, "stateful" if stateful else "refused", str(e).splitlines()[0])
    except Exception as e:
        return Outcome(name, index, "broken", f"compile: {type(e).__name__}: {str(e)[:300]}")
    try:
        got = cm.run_numpy([x.numpy() for x in module.inputs])
    except Exception as e:
        return Outcome(name, index, "broken", f"run: {type(e).__name__}: {str(e)[:300]}")
    want = [t.numpy() for t in expected]
    if len(got) != len(want) or not all(close(g, w) for g, w in zip(got, want)):
        shapes = [(g.shape, str(g.dtype)) for g in got], [(w.shape, str(w.dtype)) for w in want]
        return Outcome(name, index, "wrong", f"{shapes}")
    return Outcome(name, index, "right")


def samples(opinfo, limit: int):
    torch.manual_seed(0)
    found = opinfo.sample_inputs("cpu", torch.float32, requires_grad=False)
    return [s for _, s in zip(range(limit), found)]


def run_all(limit: int = 8, only: set[str] | None = None) -> list[Outcome]:
    outcomes = []
    for opinfo in claimed_opinfos():
        if only and opinfo.name not in only:
            continue
        for i, sample in enumerate(samples(opinfo, limit)):
            outcomes.append(run_sample(opinfo, i, sample))
    return outcomes


if __name__ == "__main__":
    import collections
    import sys

    results = run_all(int(sys.argv[1]) if len(sys.argv) > 1 else 8, set(sys.argv[2:]) or None)
    counts = collections.Counter(o.kind for o in results)
    for o in results:
        if o.kind not in ("right", "skipped"):
            print(f"{o.kind:8} {o.op}[{o.index}]: {o.detail}")
    print(dict(counts))
