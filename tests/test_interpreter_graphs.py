"""The reference interpreter against PyTorch on random well-formed graphs over every float op (strategies.graphs).

Each graph runs twice: `run_graph` (the interpreter) and `run_torch` (tests/torch_reference.py: torch's float32
kernels, node by node). Float outputs must agree within rtol 1e-4 plus an absolute slack of 1e-4 * max(1, max|torch
output|). That is ten times looser than the op-by-op tests in test_interpreter.py because errors compound along a
chain of up to eight ops (values up to strategies.MAX_BOUND): the interpreter computes each non-exactly-rounded op
in float64 and rounds once per op, where torch accumulates sums, convolutions and reductions in float32, and each
op's difference is carried (and possibly magnified, e.g. by LAYER_NORM or DIV) into the next. Integer outputs
(none today: GATHER's indices are constants) must be equal.

One known difference is left out, not tolerated: UPSAMPLE_NEAREST's index is floor(i * in / out) in integers in the
IR and floor(i * float32(in / out)) in torch, which differ at a few large non-integer ratios (26 -> 22, 39 -> 33;
see test_upsample_nearest_index_is_the_exact_integer_rule). Graphs that upsample at such a ratio are not compared.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given

from edgelower.interp import run_graph
from edgelower.ir.graph import Op
from strategies import FLOAT_OPS, graph_and_inputs
from torch_reference import TORCH_OPS, nearest_index_agrees, run_torch

RTOL = 1e-4


def assert_agree(got: np.ndarray, ref: np.ndarray, what: str) -> None:
    assert got.dtype == ref.dtype and got.shape == ref.shape, (what, got.dtype, got.shape, ref.dtype, ref.shape)
    if got.dtype.kind != "f":
        np.testing.assert_array_equal(got, ref, err_msg=what)
        return
    finite = np.abs(ref[np.isfinite(ref)])
    atol = RTOL * max(1.0, float(finite.max(initial=0.0)))
    np.testing.assert_allclose(got, ref, rtol=RTOL, atol=atol, equal_nan=True, err_msg=what)


def test_torch_reference_covers_every_float_op():
    assert FLOAT_OPS <= set(TORCH_OPS), f"no torch reference for {sorted(op.name for op in FLOAT_OPS - set(TORCH_OPS))}"


@given(graph_and_inputs())
def test_interpreter_agrees_with_torch_on_random_graphs(case):
    graph, inputs = case
    for node in graph.nodes:
        if node.op is Op.UPSAMPLE_NEAREST:
            in_hw, out_hw = graph.types[node.inputs[0]].shape[2:], node.attrs["size"]
            assume(all(nearest_index_agrees(i, o) for i, o in zip(in_hw, out_hw)))
    got, ref = run_graph(graph, inputs), run_torch(graph, inputs)
    assert len(got) == len(ref) == len(graph.outputs)
    for name, g, r in zip(graph.outputs, got, ref):
        assert_agree(g, r, f"output %{name} of\n{graph}")
