"""The rewrite driver, canonicalize, fold_batchnorm and run_pipeline.

Each pass: for random well-formed graphs and inputs the interpreter gives the same results before and after
(canonicalize: identical; fold_batchnorm: within 1e-5 of max|output|), the verifier accepts the result, and the
pass's postcondition holds. Before/Expected tests pin individual rules by comparing printed IR.
"""

import numpy as np
import pytest
from hypothesis import given, settings

from edgelower.interp import run_graph
from edgelower.ir.graph import Graph, GraphBuilder, Node, Op, TensorType
from edgelower.ir.ops import IRError
from edgelower.passes import PIPELINES, run_pipeline
from edgelower.passes.canonicalize import canonicalize
from edgelower.passes.fold_batchnorm import fold_batchnorm
from edgelower.passes.fuse import fuse
from edgelower.passes.rewrite import Rewrite, RewriteLoopError, Rule, rewrite
from edgelower.ir.printer import print_graph
from edgelower.ir.verifier import verify

from strategies import graph_and_inputs

# Pass properties are the point of these tests: four times the profile's examples (still seconds).
PROPERTY = settings(max_examples=4 * settings.default.max_examples)

# Ops around the CONV2D/LINEAR -> BATCH_NORM pairs, so that most generated graphs have something to fold.
BATCHNORM_OPS = {Op.CONV2D, Op.LINEAR, Op.BATCH_NORM, Op.RELU, Op.ADD, Op.MAX_POOL2D, Op.RESHAPE}


def assert_close(before: Graph, after: Graph, inputs, rtol: float = 1e-5) -> None:
    """Same interface, and every output within rtol * max|output| (at least rtol: outputs near zero, such as
    x - x, have no scale of their own)."""
    assert (after.inputs, after.outputs) == (before.inputs, before.outputs)
    for name, want, got in zip(before.outputs, run_graph(before, inputs), run_graph(after, inputs)):
        scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
        np.testing.assert_allclose(got, want, rtol=0, atol=rtol * scale, err_msg=f"output %{name}")


def assert_identical(before: Graph, after: Graph, inputs) -> None:
    assert (after.inputs, after.outputs) == (before.inputs, before.outputs)
    for name, want, got in zip(before.outputs, run_graph(before, inputs), run_graph(after, inputs)):
        assert got.dtype == want.dtype and np.array_equal(got, want), f"output %{name}"


# --- properties: canonicalize ------------------------------------------------------------------------------------

def identity_operand(node: Node, graph: Graph) -> str | None:
    """For x + 0, 0 + x, x - 0, x * 1, 1 * x, x / 1 (without a fused activation): the operand x; else None."""
    identities = {Op.ADD: (0.0, True), Op.SUB: (0.0, False), Op.MUL: (1.0, True), Op.DIV: (1.0, False)}
    if node.op not in identities or node.attrs.get("activation") is not None:
        return None
    value, commutes = identities[node.op]
    x, c = node.inputs
    for keep, const in [(x, c)] + ([(c, x)] if commutes else []):
        data = graph.constants.get(const)
        if data is not None and np.all(data == value) and graph.types[keep] == graph.types[node.output]:
            return keep
    return None


def noop_input(node: Node, graph: Graph) -> str | None:
    """The value a no-op node passes through unchanged, by this test's own definition; None for other nodes."""
    x = node.inputs[0]
    same_type = graph.types[x] == graph.types[node.output]
    if node.op in (Op.RESHAPE, Op.EXPAND, Op.SLICE, Op.UPSAMPLE_NEAREST) and same_type:
        return x
    if node.op is Op.PERMUTE and node.attrs["perm"] == tuple(range(len(node.attrs["perm"]))):
        return x
    if node.op is Op.CONCAT and len(node.inputs) == 1:
        return x
    if node.op is Op.CLAMP and node.attrs["min"] is None and node.attrs["max"] is None:
        return x
    if node.op is Op.PAD and not any(lo or hi for lo, hi in node.attrs["pads"]):
        return x
    return identity_operand(node, graph)


def live_values(graph: Graph) -> set[str]:
    live = set(graph.outputs)
    for node in reversed(graph.nodes):
        if live & set(node.outputs):
            live.update(node.inputs)
    return live


@PROPERTY
@given(graph_and_inputs())
def test_canonicalize_keeps_results_identical(graph_inputs):
    graph, inputs = graph_inputs
    after = canonicalize(graph)
    verify(after, after="canonicalize")
    assert_identical(graph, after, inputs)


@PROPERTY
@given(graph_and_inputs())
def test_canonicalize_leaves_nothing_to_fold_remove_or_merge(graph_inputs):
    graph, _ = graph_inputs
    after = canonicalize(graph)
    producers = after.producers()
    for node in after.nodes:
        consts = [after.constants[i] for i in node.inputs if i in after.constants]
        if len(consts) == len(node.inputs):  # foldable unless the folded data would be much bigger
            assert after.types[node.output].numel > 4 * sum(c.size for c in consts), node
        passed = noop_input(node, after)
        if passed is not None:  # only the copy that keeps an output's name apart from an input or output stays
            assert node.output in after.outputs and (passed in after.inputs or passed in after.outputs), node
        if node.op in (Op.RESHAPE, Op.PERMUTE):
            inner = producers.get(node.inputs[0])
            assert inner is None or inner.op is not node.op, node
    live = live_values(after)
    assert all(set(n.outputs) & live for n in after.nodes) and set(after.constants) <= live


@PROPERTY
@given(graph_and_inputs())
def test_canonicalize_is_idempotent_and_pure(graph_inputs):
    graph, _ = graph_inputs
    text = print_graph(graph)
    once = canonicalize(graph)
    assert print_graph(canonicalize(once)) == print_graph(once)
    assert print_graph(graph) == text


# --- properties: fold_batchnorm ----------------------------------------------------------------------------------

def check_fold_batchnorm(graph: Graph, inputs) -> None:
    after = fold_batchnorm(graph)
    verify(after, after="fold_batchnorm")
    assert_close(graph, after, inputs)
    # The generator gives every BATCH_NORM constant statistics: none may remain, and folding neither adds nor
    # drops a CONV2D or LINEAR that reaches an output.
    assert not [n for n in after.nodes if n.op is Op.BATCH_NORM]
    live = live_values(graph)
    for op in (Op.CONV2D, Op.LINEAR):
        assert sum(n.op is op for n in after.nodes) == sum(n.op is op and n.output in live for n in graph.nodes)


@PROPERTY
@given(graph_and_inputs())
def test_fold_batchnorm_on_random_graphs(graph_inputs):
    check_fold_batchnorm(*graph_inputs)


@PROPERTY
@given(graph_and_inputs(ops=BATCHNORM_OPS, max_nodes=6))
def test_fold_batchnorm_on_conv_and_linear_graphs(graph_inputs):
    check_fold_batchnorm(*graph_inputs)


@PROPERTY
@given(graph_and_inputs())
def test_float_pipeline_verifies_and_keeps_results(graph_inputs):
    graph, inputs = graph_inputs
    assert_close(graph, run_pipeline(graph, PIPELINES["float"], verify=True), inputs)


# --- Before/Expected: canonicalize ---------------------------------------------------------------------------------

def assert_rewrites_to(before: Graph, expected: Graph, pass_=canonicalize) -> None:
    assert print_graph(pass_(before)) == print_graph(expected)


X = TensorType((2, 3, 2))


def test_merge_reshapes_into_one():
    b = GraphBuilder()
    x = b.input("x", X)
    r = b.op(Op.RESHAPE, [b.op(Op.RESHAPE, [x], {"shape": (6, 2)})], {"shape": (3, 4)})
    b.output(b.op(Op.RELU, [r]))
    e = GraphBuilder()
    x = e.input("x", X)
    e.output(e.op(Op.RELU, [e.op(Op.RESHAPE, [x], {"shape": (3, 4)}, hint="reshape_1")]))
    assert_rewrites_to(b.build(), e.build())


def test_inverse_permutes_vanish():
    b = GraphBuilder()
    x = b.input("x", X)
    p = b.op(Op.PERMUTE, [b.op(Op.PERMUTE, [x], {"perm": (1, 2, 0)})], {"perm": (2, 0, 1)})
    b.output(b.op(Op.TANH, [p]))
    e = GraphBuilder()
    e.output(e.op(Op.TANH, [e.input("x", X)], hint="tanh"))
    assert_rewrites_to(b.build(), e.build())


def test_constants_fold_and_identities_go():
    b = GraphBuilder()
    x = b.input("x", TensorType((2,)))
    total = b.op(Op.ADD, [b.constant("a", np.float32([1, 2])), b.constant("b", np.float32([3, 4]))], hint="total")
    scaled = b.op(Op.MUL, [x, total])
    shifted = b.op(Op.ADD, [b.constant("zero", np.zeros((2,), np.float32)), scaled])
    b.output(b.op(Op.CLAMP, [shifted], {"min": None, "max": None}, hint="y"))
    e = GraphBuilder()
    x = e.input("x", TensorType((2,)))
    e.op(Op.MUL, [x, e.constant("total", np.float32([4, 6]))], hint="y")
    e.output("y")  # the clamp's output name survives: the MUL now defines it
    assert_rewrites_to(b.build(), e.build())


def test_broadcasting_identity_and_growing_fold_stay():
    b = GraphBuilder()
    x = b.input("x", TensorType((3,)))
    b.output(b.op(Op.ADD, [x, b.constant("zero", np.zeros((2, 3), np.float32))]))  # changes the shape
    b.output(b.op(Op.EXPAND, [b.constant("one", np.float32([1]))], {"shape": (512,)}))  # 1 value -> 512
    graph = b.build()
    assert_rewrites_to(graph, graph)


def test_identity_with_a_fused_activation_stays():
    b = GraphBuilder()
    x = b.input("x", TensorType((3,)))
    b.output(b.op(Op.ADD, [x, b.constant("zero", np.zeros(3, np.float32))], {"activation": ("RELU",)}))
    graph = b.build()
    assert_rewrites_to(graph, graph)


def test_outputs_keep_their_names():
    b = GraphBuilder()
    x = b.input("x", X)
    b.output(b.op(Op.RESHAPE, [x], {"shape": X.shape}, hint="copy"))  # an input's copy: must stay
    kept = b.op(Op.RELU, [x])
    b.output(kept)
    b.output(b.op(Op.PERMUTE, [kept], {"perm": (0, 1, 2)}, hint="same"))  # another output's copy: must stay
    b.output(b.op(Op.MUL, [b.constant("c", np.float32(2)), b.constant("d", np.float32(3))], hint="folded"))
    graph = b.build()
    e = GraphBuilder()
    x = e.input("x", X)
    e.output(e.op(Op.RESHAPE, [x], {"shape": X.shape}, hint="copy"))
    e.output(e.op(Op.RELU, [x]))
    e.output(e.op(Op.PERMUTE, ["relu"], {"perm": (0, 1, 2)}, hint="same"))
    e.output(e.constant("folded", np.float32(6)))  # a constant output, under its own name
    assert_rewrites_to(graph, e.build())
    inputs = [np.arange(12, dtype=np.float32).reshape(X.shape)]
    assert_identical(graph, canonicalize(graph), inputs)


# --- Before/Expected: fold_batchnorm -------------------------------------------------------------------------------

# eps 0, var 4, weight 2: scale exactly 1; mean 1, bias 0: shift exactly -1. Folded constants print exactly.
STATS = {"mean": np.float32([1, 1]), "var": np.float32([4, 4]), "weight": np.float32([2, 2]),
         "bias": np.float32([0, 0])}


def add_batchnorm(b: GraphBuilder, x: str) -> str:
    stats = [b.constant(name, data) for name, data in STATS.items()]
    return b.op(Op.BATCH_NORM, [x] + stats, {"eps": 0.0}, hint="bn")


def test_batchnorm_folds_into_conv_and_gets_a_bias():
    b = GraphBuilder()
    x = b.input("x", TensorType((1, 1, 3, 3)))
    conv = b.op(Op.CONV2D, [x, b.constant("w", np.float32([0.5, -1]).reshape(2, 1, 1, 1))])
    b.output(add_batchnorm(b, conv))
    e = GraphBuilder()
    x = e.input("x", TensorType((1, 1, 3, 3)))
    w = e.constant("conv2d_folded_weight", np.float32([0.5, -1]).reshape(2, 1, 1, 1))
    e.output(e.op(Op.CONV2D, [x, w, e.constant("conv2d_folded_bias", np.float32([-1, -1]))], hint="bn"))
    folded = fold_batchnorm(b.build())
    assert_rewrites_to(b.build(), e.build(), fold_batchnorm)
    assert [n.name for n in folded.nodes] == ["conv2d"]  # the conv it still is, not its batch norm


def test_batchnorm_after_a_shared_linear_becomes_mul_add():
    b = GraphBuilder()
    x = b.input("x", TensorType((4, 3)))
    y = b.op(Op.LINEAR, [x, b.constant("w", np.ones((2, 3), np.float32))])
    b.output(add_batchnorm(b, y))
    b.output(y)  # a second use: folding would change this output
    e = GraphBuilder()
    x = e.input("x", TensorType((4, 3)))
    y = e.op(Op.LINEAR, [x, e.constant("w", np.ones((2, 3), np.float32))])
    scaled = e.op(Op.MUL, [y, e.constant("bn_scale", np.float32([1, 1]))], hint="bn_scaled")
    e.output(e.op(Op.ADD, [scaled, e.constant("bn_shift", np.float32([-1, -1]))], hint="bn"))
    e.output(y)
    assert_rewrites_to(b.build(), e.build(), fold_batchnorm)
    # canonicalize then removes the multiplication by ones.
    assert [n.op for n in run_pipeline(b.build(), PIPELINES["float"], verify=True).nodes] == [Op.LINEAR, Op.ADD]


def test_batchnorm_on_images_broadcasts_per_channel():
    b = GraphBuilder()
    b.output(add_batchnorm(b, b.input("x", TensorType((1, 2, 2, 2)))))
    after = fold_batchnorm(b.build())
    assert [(n.op, [after.types[i].shape for i in n.inputs]) for n in after.nodes] == [
        (Op.MUL, [(1, 2, 2, 2), (2, 1, 1)]), (Op.ADD, [(1, 2, 2, 2), (2, 1, 1)])]


def test_batchnorm_after_a_fused_activation_is_not_folded():
    b = GraphBuilder()
    x = b.input("x", TensorType((1, 1, 3, 3)))
    w = b.constant("w", np.float32([0.5, -1]).reshape(2, 1, 1, 1))
    b.output(add_batchnorm(b, b.op(Op.CONV2D, [x, w], {"activation": ("RELU",)})))
    assert [n.op for n in fold_batchnorm(b.build()).nodes] == [Op.CONV2D, Op.MUL, Op.ADD]


def test_batchnorm_with_computed_statistics_stays():
    b = GraphBuilder()
    x = b.input("x", TensorType((2, 2)))
    mean = b.input("mean", TensorType((2,)))
    stats = [mean] + [b.constant(name, data) for name, data in STATS.items() if name != "mean"]
    b.output(b.op(Op.BATCH_NORM, [x] + stats))
    graph = b.build()
    assert_rewrites_to(graph, graph, fold_batchnorm)


# --- the rewrite driver --------------------------------------------------------------------------------------------

def relu_graph() -> Graph:
    b = GraphBuilder()
    x = b.input("x", X)
    b.output(b.op(Op.RELU, [b.op(Op.NEG, [x])]))
    return b.build()


def test_driver_detects_an_endless_rewrite():
    def swap(node, ctx):  # always fires: RELU(x) -> a new RELU(x)
        fresh = ctx.fresh("relu")
        return Rewrite(nodes=(Node(Op.RELU, node.inputs, (fresh,)),), replace={node.output: fresh})

    with pytest.raises(RewriteLoopError, match=r"loop: no fixed point after 50 rewrites; .*swap, swap"):
        rewrite(relu_graph(), [Rule("swap", Op.RELU, swap)], name="loop", max_rewrites=50)


def test_driver_rejects_rewrites_that_break_invariants():
    def change_type(node, ctx):
        c = ctx.fresh("c")
        return Rewrite(constants={c: np.zeros((1,), np.float32)}, replace={node.output: c})

    def read_later(node, ctx):
        return Rewrite(nodes=(Node(Op.ABS, ("relu",), (node.output,)),))

    def forget_output(node, ctx):
        return Rewrite(nodes=(Node(Op.ABS, node.inputs, (ctx.fresh("abs"),)),))

    with pytest.raises(IRError, match=r"rule 'forget_output' at node neg \(NEG\): output %neg must be either"):
        rewrite(relu_graph(), [Rule("forget_output", Op.NEG, forget_output)])
    with pytest.raises(IRError, match=r"rule 'change_type' at node neg \(NEG\): %neg: float32\[2x3x2\] would be"):
        rewrite(relu_graph(), [Rule("change_type", Op.NEG, change_type)])
    with pytest.raises(IRError, match=r"new node neg reads %relu, which is not defined before neg"):
        rewrite(relu_graph(), [Rule("read_later", Op.NEG, read_later)])


def test_driver_is_pure_and_drops_dead_code():
    b = GraphBuilder()
    x = b.input("x", X)
    b.op(Op.EXP, [b.op(Op.NEG, [x])])  # reaches no output
    b.constant("unused", np.ones(3, np.float32))
    b.output(b.op(Op.RELU, [x]))
    graph = b.build()
    text = print_graph(graph)
    after = rewrite(graph, [])
    assert print_graph(graph) == text
    assert [n.op for n in after.nodes] == [Op.RELU] and not after.constants and set(after.types) == {"x", "relu"}


def chain(n: int) -> Graph:
    """x -> NEG -> RELU -> NEG -> RELU ... (n nodes) -> output: every node a rewrite site."""
    b = GraphBuilder("chain")
    x = b.input("x", X)
    for i in range(n):
        x = b.op(Op.NEG if i % 2 == 0 else Op.RELU, [x])
    b.output(x)
    return b.build()


def count_graph_builds(monkeypatch) -> list[int]:
    """A counter of Graph values built from here on (each one an O(nodes) copy of the whole graph)."""
    built, init = [0], Graph.__post_init__

    def counting(self):
        built[0] += 1
        init(self)

    monkeypatch.setattr(Graph, "__post_init__", counting)
    return built


def test_driver_work_is_linear_in_the_graph(monkeypatch):
    """1,000 rewrites on a 1,000-node chain, redefining nodes in place (NEG -> ABS) and renaming every use of a
    value (RELU -> its input): the driver copies the whole graph a few times per sweep, never once per rewrite,
    so the pass is O(nodes) per sweep rather than O(nodes) per rewrite."""
    def redefine(node, ctx):
        return Rewrite(nodes=(Node(Op.ABS, node.inputs, node.outputs),))

    def skip_relu(node, ctx):
        return None if ctx.is_output(node.output) else Rewrite(replace={node.output: node.inputs[0]})

    graph = chain(1000)
    built = count_graph_builds(monkeypatch)
    after = rewrite(graph, [Rule("redefine", Op.NEG, redefine), Rule("skip_relu", Op.RELU, skip_relu)])
    assert built[0] <= 6  # two sweeps (the second finds nothing): a handful of copies for 999 rewrites
    assert [n.op for n in after.nodes] == [Op.ABS] * 500 + [Op.RELU]
    assert all(n.inputs == (prev.output,) for prev, n in zip(after.nodes, after.nodes[1:]))
    verify(after)


def test_passes_on_a_thousand_node_graph_copy_it_a_bounded_number_of_times(monkeypatch):
    """The whole float pipeline on a 1,000-node conv/bn/relu graph: Graph copies grow with passes and sweeps, not
    with the graph's size (they were one per rewrite: ~1,000 here)."""
    b = GraphBuilder("deep")
    x = b.input("x", TensorType((1, 4, 4, 4)))
    rng = np.random.default_rng(0)
    for _ in range(250):
        y = b.op(Op.CONV2D, [x, b.constant("w", rng.standard_normal((4, 4, 1, 1)).astype(np.float32)),
                             b.constant("b", np.zeros(4, np.float32))])
        stats = [b.constant(n, v.astype(np.float32)) for n, v in
                 (("g", rng.random(4) + 0.5), ("beta", rng.random(4)), ("m", rng.random(4)), ("v", rng.random(4) + 1))]
        x = b.op(Op.ADD, [b.op(Op.RELU, [b.op(Op.BATCH_NORM, [y, *stats])]), x])
    b.output(x)
    graph = b.build()
    assert len(graph.nodes) == 1000
    built = count_graph_builds(monkeypatch)
    after = run_pipeline(graph, PIPELINES["float"])
    assert built[0] <= 60, f"{built[0]} Graph copies for {len(graph.nodes)} nodes"
    assert len(after.nodes) == 500  # batchnorm folded into the conv, relu fused into it: conv + add per block


# --- run_pipeline --------------------------------------------------------------------------------------------------

def drop_first_node(graph: Graph) -> Graph:
    """A broken pass: its users now read an undefined value."""
    return graph.replace(nodes=graph.nodes[1:])


def test_run_pipeline_names_the_pass_that_broke_the_ir():
    with pytest.raises(IRError, match=r"invalid IR after pass 'drop_first_node': node relu \(RELU\) uses %neg"):
        run_pipeline(relu_graph(), (canonicalize, drop_first_node, canonicalize), verify=True)


def test_run_pipeline_debug_prints_and_verifies(monkeypatch, capsys):
    monkeypatch.setenv("EDGELOWER_DEBUG", "1")
    graph = run_pipeline(relu_graph(), PIPELINES["float"])
    err = capsys.readouterr().err
    assert err.count("--- after canonicalize ---") == 2 and "--- after fold_batchnorm ---" in err
    assert print_graph(graph) in err
    with pytest.raises(IRError, match="after pass 'drop_first_node'"):
        run_pipeline(relu_graph(), (drop_first_node,))


def test_run_pipeline_without_debug_does_not_verify(monkeypatch):
    monkeypatch.delenv("EDGELOWER_DEBUG", raising=False)
    assert run_pipeline(relu_graph(), (drop_first_node,)).nodes == relu_graph().nodes[1:]


def test_pipelines_are_functions_in_order():
    assert PIPELINES["float"] == (canonicalize, fold_batchnorm, canonicalize, fuse)
    assert all(callable(p) and not isinstance(p, str) for passes in PIPELINES.values() for p in passes)
