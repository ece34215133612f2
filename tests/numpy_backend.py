"""A second backend, written the way any new backend is: a declaration, a renderer, an Artifact — to show that a
backend is an addition (issue 9). It renders the pipeline's Graph — int8 graphs as primitive integer ops, after
decompose_integer — as a self-contained Python module over numpy, and runs it by importing that source.

The generated code spells every op's arithmetic itself (it never calls the interpreter): integer ops compute in
int64 and wrap once to their dtype, as C does. Float ops it has no spelling for, and ops outside its table, are
refused by name before anything is written. tests/test_second_backend.py registers it with a target row and runs
the conformance suite on it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from edgelower.backends.artifact import Artifact, IOSpec
from edgelower.backends.protocol import Backend, EmitRequest
from edgelower.ir.graph import Graph, Node, Op, TensorType
from edgelower.ir.ops import complete_attrs
from edgelower.ir.traits import is_integer

# The helpers every generated module starts with: the arithmetic of the ops, spelled out once.
PRELUDE = '''import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def wrap(x, dtype):
    """int64 (or Python int) values modulo 2**bits of `dtype`, two's complement; floats pass through."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.asarray(x).astype(dtype)
    bits = dtype.itemsize * 8
    x = np.asarray(x).astype(np.int64)
    if bits < 64:
        x = ((x + (1 << (bits - 1))) & ((1 << bits) - 1)) - (1 << (bits - 1))
    return x.astype(dtype)


def wide(x):
    x = np.asarray(x)
    return x.astype(np.float64 if x.dtype.kind == "f" else np.int64)


def mul_high(a, b):
    bits = a.dtype.itemsize * 8
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    ab = wide(a) * wide(b)
    r = (ab + (1 << (bits - 2))) >> (bits - 1)
    return np.where((wide(a) == lo) & (wide(b) == lo), hi, r).astype(a.dtype)


def rounding_shift_right(a, e):
    x, e = wide(a), wide(e)
    mask = (np.int64(1) << e) - 1
    return ((x >> e) + ((x & mask) > (mask >> 1) + (x < 0))).astype(a.dtype)


def trunc_div(a, b):
    x, y = wide(a), wide(b)
    q = np.abs(x) // np.abs(y) * np.sign(x) * np.sign(y)
    return wrap(q, a.dtype)


def clz(a):
    bits = a.dtype.itemsize * 8
    x = wide(a) & ((1 << bits) - 1) if bits < 64 else wide(a).view(np.uint64)
    n = np.zeros(x.shape, np.int64)
    for k in range(bits):
        n += (x >> np.uint64(k) if x.dtype == np.uint64 else x >> k) > 0
    return (bits - n).astype(a.dtype)


def conv2d(x, w, b, stride, padding, dilation, groups, dtype):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(wide(x), ((0, 0), (0, 0), (padding[0], padding[2]), (padding[1], padding[3])))
    win = sliding_window_view(xp, ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1), axis=(2, 3))
    win = win[:, :, ::stride[0], ::stride[1], ::dilation[0], ::dilation[1]]
    win = win.reshape(n, groups, cg, win.shape[2], win.shape[3], kh, kw)
    y = np.einsum("ngchwij,gocij->ngohw", win, wide(w).reshape(groups, o // groups, cg, kh, kw))
    y = y.reshape(n, o, y.shape[-2], y.shape[-1])
    if b is not None:
        y = y + wide(b).reshape(1, o, 1, 1)
    return wrap(y, dtype)


def max_pool2d(x, kernel, stride, padding, dilation, lowest):
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0], padding[2]), (padding[1], padding[3])), constant_values=lowest)
    win = sliding_window_view(xp, ((kernel[0] - 1) * dilation[0] + 1, (kernel[1] - 1) * dilation[1] + 1), axis=(2, 3))
    return win[:, :, ::stride[0], ::stride[1], ::dilation[0], ::dilation[1]].max(axis=(4, 5))


def adaptive_max_pool2d(x, oh, ow):
    h, w = x.shape[2:]
    y = np.empty(x.shape[:2] + (oh, ow), x.dtype)
    for i in range(oh):
        for j in range(ow):
            rows, cols = slice(i * h // oh, -(-(i + 1) * h // oh)), slice(j * w // ow, -(-(j + 1) * w // ow))
            y[:, :, i, j] = x[:, :, rows, cols].max(axis=(2, 3))
    return y


def arg_extreme(pick, x, axis, keepdims, dtype):
    return np.zeros((), dtype) if x.ndim == 0 else pick(x, axis=axis, keepdims=keepdims).astype(dtype)
'''

Spell = Callable[[Node, Mapping[str, TensorType], list[str], str], str]


def _dt(types, name: str) -> str:
    return f"np.{types[name].dtype.numpy.name}"


def _binary(fn: str) -> Spell:
    return lambda node, types, a, out: f"wrap({fn}(wide({a[0]}), wide({a[1]})), {_dt(types, out)})"


def _attrs(node: Node) -> dict:
    return complete_attrs(node.op, node.attrs)


def _clamp(node, types, a, out):
    at = _attrs(node)
    return f"np.clip({a[0]}, {at['min']!r}, {at['max']!r}).astype({_dt(types, out)})"


def _conv2d(node, types, a, out):
    at = _attrs(node)
    bias = a[2] if len(a) == 3 else "None"
    return (f"conv2d({a[0]}, {a[1]}, {bias}, {at['stride']}, {at['padding']}, {at['dilation']}, {at['groups']}, "
            f"{_dt(types, out)})")


def _linear(node, types, a, out):
    bias = f" + wide({a[2]})" if len(a) == 3 else ""
    return f"wrap(wide({a[0]}) @ wide({a[1]}).T{bias}, {_dt(types, out)})"


def _reduce(fn: str) -> Spell:
    def spell(node, types, a, out):
        at = _attrs(node)
        return f"wrap(np.{fn}(wide({a[0]}), axis={tuple(at['axes'])}, keepdims={at['keepdim']}), {_dt(types, out)})"
    return spell


def _max_pool(node, types, a, out):
    at, t = _attrs(node), types[node.inputs[0]]
    lowest = "-np.inf" if t.dtype.is_float else str(int(np.iinfo(t.dtype.numpy).min))
    return (f"max_pool2d({a[0]}, {at['kernel']}, {at['stride']}, {at['padding']}, {at['dilation']}, {lowest})"
            if not at["ceil_mode"] else "")


def _slice(node, types, a, out):
    at = _attrs(node)
    index = ", ".join([":"] * at["axis"] + [f"{at['start']}:{at['end']}:{at['step']}"])
    return f"{a[0]}[{index}]"


def _pad(node, types, a, out):
    at = _attrs(node)
    return f"np.pad({a[0]}, {tuple(tuple(p) for p in at['pads'])}, constant_values={at['value']!r})"


def _upsample(node, types, a, out):
    (h, w), (oh, ow) = types[node.inputs[0]].shape[2:], _attrs(node)["size"]
    return f"{a[0]}[:, :, (np.arange({oh}) * {h}) // {oh}][:, :, :, (np.arange({ow}) * {w}) // {ow}]"


def _arg_extreme(fn: str) -> Spell:
    def spell(node, types, a, out):
        at = _attrs(node)
        return f"arg_extreme({fn}, {a[0]}, {at['axis']}, {at['keepdim']}, {_dt(types, out)})"
    return spell


PREDICATES = {"lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal", "eq": "equal",
              "ne": "not_equal"}

SPELLINGS: dict[Op, Spell] = {
    Op.ADD: _binary("np.add"), Op.SUB: _binary("np.subtract"), Op.MUL: _binary("np.multiply"),
    Op.MAXIMUM: _binary("np.maximum"), Op.MINIMUM: _binary("np.minimum"),
    Op.NEG: lambda node, types, a, out: f"wrap(-wide({a[0]}), {_dt(types, out)})",
    Op.ABS: lambda node, types, a, out: f"wrap(np.abs(wide({a[0]})), {_dt(types, out)})",
    Op.RELU: lambda node, types, a, out: f"np.maximum({a[0]}, 0).astype({_dt(types, out)})",
    Op.CLAMP: _clamp,
    Op.CAST: lambda node, types, a, out: f"wrap(wide({a[0]}), {_dt(types, out)})",
    Op.SHIFT_LEFT: lambda node, types, a, out: f"wrap(wide({a[0]}) << wide({a[1]}), {_dt(types, out)})",
    Op.SHIFT_RIGHT: lambda node, types, a, out: f"wrap(wide({a[0]}) >> wide({a[1]}), {_dt(types, out)})",
    Op.BITWISE_AND: lambda node, types, a, out: f"({a[0]} & {a[1]}).astype({_dt(types, out)})",
    Op.MUL_HIGH: lambda node, types, a, out: f"mul_high(*np.broadcast_arrays({a[0]}, {a[1]}))",
    Op.ROUNDING_SHIFT_RIGHT: lambda node, types, a, out: f"rounding_shift_right({a[0]}, {a[1]})",
    Op.TRUNC_DIV: lambda node, types, a, out: f"trunc_div({a[0]}, {a[1]})",
    Op.COMPARE: lambda node, types, a, out: f"np.{PREDICATES[_attrs(node)['predicate']]}({a[0]}, {a[1]})",
    Op.WHERE: lambda node, types, a, out: f"np.where({a[0]}, {a[1]}, {a[2]}).astype({_dt(types, out)})",
    Op.CLZ: lambda node, types, a, out: f"clz({a[0]})",
    Op.CONV2D: _conv2d, Op.LINEAR: _linear,
    Op.MATMUL: lambda node, types, a, out: f"wrap(np.matmul(wide({a[0]}), wide({a[1]})), {_dt(types, out)})",
    Op.SUM: _reduce("sum"), Op.REDUCE_MAX: _reduce("max"), Op.REDUCE_MIN: _reduce("min"), Op.MAX_POOL2D: _max_pool,
    Op.ADAPTIVE_MAX_POOL2D: lambda node, types, a, out: f"adaptive_max_pool2d({a[0]}, *{tuple(_attrs(node)['size'])})",
    **{op: _arg_extreme(fn) for op, fn in ((Op.ARGMAX, "np.argmax"), (Op.ARGMIN, "np.argmin"))},
    Op.RESHAPE: lambda node, types, a, out: f"{a[0]}.reshape({tuple(_attrs(node)['shape'])})",
    Op.PERMUTE: lambda node, types, a, out: f"{a[0]}.transpose({tuple(_attrs(node)['perm'])})",
    Op.CONCAT: lambda node, types, a, out: f"np.concatenate([{', '.join(a)}], axis={_attrs(node)['axis']})",
    Op.SLICE: _slice, Op.PAD: _pad, Op.UPSAMPLE_NEAREST: _upsample,
    Op.EXPAND: lambda node, types, a, out: f"np.broadcast_to({a[0]}, {tuple(_attrs(node)['shape'])})",
    Op.GATHER: lambda node, types, a, out: f"np.take({a[0]}, {a[1]}, axis={_attrs(node)['axis']})",
}

# Float arithmetic beyond exact elementwise ops would need its own rounding contract; this backend has none.
FLOAT_SPELLED = {Op.ADD, Op.SUB, Op.MUL, Op.MAXIMUM, Op.MINIMUM, Op.NEG, Op.ABS, Op.RELU, Op.CLAMP, Op.RESHAPE,
                 Op.PERMUTE, Op.CONCAT, Op.SLICE, Op.PAD, Op.EXPAND, Op.UPSAMPLE_NEAREST, Op.GATHER}


def unsupported(node: Node, types: Mapping[str, TensorType]) -> str | None:
    if is_integer(node):
        return "this backend renders primitive integer ops, not q records"
    if node.op not in SPELLINGS:
        return "no numpy spelling for this op"
    if any(types[v].dtype.is_float for v in node.inputs + node.outputs) and node.op not in FLOAT_SPELLED:
        return "float arithmetic of this op has no spelling here"
    if node.op is Op.MAX_POOL2D and _attrs(node)["ceil_mode"]:
        return "ceil_mode pooling has no spelling here"
    return None


def render(graph: Graph) -> dict[str, str | bytes]:
    names = {v: f"v{i}" for i, v in enumerate(list(graph.inputs) + sorted(graph.constants)
                                               + [o for n in graph.nodes for o in n.outputs])}
    lines = [PRELUDE, "", "def run(inputs, weights):"]
    lines += [f"    {names[v]} = inputs[{i}]" for i, v in enumerate(graph.inputs)]
    lines += [f"    {names[c]} = weights[{c!r}]" for c in sorted(graph.constants)]
    for node in graph.nodes:
        expr = SPELLINGS[node.op](node, graph.types, [names[i] for i in node.inputs], node.output)
        lines.append(f"    {names[node.output]} = np.ascontiguousarray({expr})  # {node.op.name} %{node.name}")
    lines.append(f"    return [{', '.join(f'np.array({names[o]})' for o in graph.outputs)}]")
    weights = io.BytesIO()
    np.savez(weights, **{c: graph.constant(c) for c in sorted(graph.constants)})
    return {"model.py": "\n".join(lines) + "\n", "weights.npz": weights.getvalue()}


class NumpyArtifact(Artifact):
    def __init__(self, files, spec: IOSpec):
        super().__init__(files, spec)
        self._run = None

    def build(self) -> None:
        namespace: dict = {}
        exec(compile(self.files["model.py"], "model.py", "exec"), namespace)
        weights = dict(np.load(io.BytesIO(self.files["weights.npz"])))
        self._run = lambda inputs: namespace["run"](inputs, weights)

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        if self._run is None:
            self.build()
        return self._run(self.spec.check_inputs(inputs))


@dataclass(frozen=True)
class NumpySettings:
    runs_on: str = "this Python process (numpy)"
    needs: str = "numpy"
    in_process: bool = True


def _emit(request: EmitRequest) -> NumpyArtifact:
    return NumpyArtifact(render(request.graph), IOSpec.from_graph(request.graph, request.prefix))


def _load(directory: Path, manifest: dict, target) -> NumpyArtifact:
    files = {"model.py": (directory / "model.py").read_text(), "weights.npz": (directory / "weights.npz").read_bytes()}
    return NumpyArtifact(files, IOSpec.from_dict(manifest))


NUMPY_BACKEND = Backend(name="numpy", consumes="graph", integer_form="primitives", settings_type=NumpySettings,
                        unsupported=unsupported, emit=_emit, load=_load,
                        description="Python source over numpy (a test backend)")
