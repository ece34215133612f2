"""IR contracts: the printer is deterministic; the verifier accepts every generated graph and rejects each kind of
malformed graph with a message naming the node or value at fault."""

import re

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from edgelower.interp import run_graph
from edgelower.ir.graph import DType, Graph, GraphBuilder, Node, Op, TensorType
from edgelower.ir.ops import OPS, REQUIRED, IRError
from edgelower.ir.printer import print_graph
from edgelower.ir.verifier import verify

from strategies import graph_and_inputs, graphs


def rename_value(graph: Graph, old: str, new: str) -> Graph:
    """The same graph with value `old` called `new` everywhere (no checks: used to build malformed graphs)."""
    def r(name):
        return new if name == old else name

    nodes = tuple(Node(n.op, tuple(map(r, n.inputs)), tuple(map(r, n.outputs)), n.attrs, r(n.name))
                  for n in graph.nodes)
    return graph.replace(inputs=tuple(map(r, graph.inputs)), outputs=tuple(map(r, graph.outputs)), nodes=nodes,
                         types={r(k): t for k, t in graph.types.items()},
                         constants={r(k): v for k, v in graph.constants.items()})


def rejects(graph: Graph, pattern: str) -> None:
    with pytest.raises(IRError, match=pattern):
        verify(graph)


# --- the printer ---------------------------------------------------------------------------------------------

def small_graph() -> Graph:
    b = GraphBuilder("small")
    x = b.input("x", TensorType((1, 2)))
    w = b.constant("w", np.array([[1.0, -2.0], [0.5, 0.0]], np.float32))
    y = b.op(Op.LINEAR, [x, w])
    b.output(b.op(Op.CLAMP, [y], {"min": 0.0, "max": None}, hint="y"))
    return b.build()


def test_printer_golden_form():
    # Built by hand with the attributes spelled out, so that this pins the printer, not the op signatures.
    graph = Graph(("x",), ("y",), (Node(Op.LINEAR, ("x", "w"), ("linear",)),
                                   Node(Op.CLAMP, ("linear",), ("y",), {"min": 0.0, "max": None})),
                  {"x": TensorType((1, 2)), "w": TensorType((2, 2)), "linear": TensorType((1, 2)),
                   "y": TensorType((1, 2))},
                  {"w": np.array([[1.0, -2.0], [0.5, 0.0]], np.float32)}, name="small")
    assert print_graph(graph) == "\n".join([
        "graph small(%x: float32[1x2]) {",
        "  %w: float32[2x2] = const [ 1. , -2. ,  0.5,  0. ]",
        "  %linear: float32[1x2] = linear(%x, %w)",
        "  %y: float32[1x2] = clamp(%linear; max=None, min=0.0)",
        "  return %y",
        "}"])


@given(graphs())
def test_printer_is_deterministic(graph):
    text = print_graph(graph)
    assert print_graph(graph) == text == str(graph)
    # Neither the insertion order of types and constants nor a rebuild changes the text.
    shuffled = Graph(graph.inputs, graph.outputs, graph.nodes, dict(reversed(list(graph.types.items()))),
                     dict(reversed(list(graph.constants.items()))), graph.name)
    assert print_graph(shuffled) == text


@given(graphs())
def test_replaying_the_builder_prints_the_same(graph):
    b = GraphBuilder(graph.name)
    for name in graph.inputs:
        b.input(name, graph.types[name])
    for name, data in graph.constants.items():
        b.constant(name, data)
    for node in graph.nodes:
        b.op(node.op, node.inputs, dict(node.attrs), hint=node.output)
    for name in graph.outputs:
        b.output(name)
    assert print_graph(b.build()) == print_graph(graph)


# --- the verifier accepts what the builder makes --------------------------------------------------------------

@given(graph_and_inputs())
def test_generated_graphs_are_well_formed_and_finite(graph_inputs):
    graph, inputs = graph_inputs
    assert verify(graph) is graph
    assert len(set(graph.outputs)) == len(graph.outputs)
    for name, value in zip(graph.outputs, run_graph(graph, inputs)):
        assert value.shape == graph.types[name].shape and np.all(np.isfinite(value)), name


# --- the verifier rejects malformed graphs, naming the culprit ------------------------------------------------

@given(graphs(), st.data())
def test_rejects_use_before_definition(graph, data):
    pairs = [(i, j) for j, user in enumerate(graph.nodes) for i, producer in enumerate(graph.nodes[:j])
             if set(producer.outputs) & set(user.inputs)]
    assume(pairs)
    i, j = data.draw(st.sampled_from(pairs))
    nodes = list(graph.nodes)
    user = nodes.pop(j)
    nodes.insert(i, user)
    rejects(graph.replace(nodes=tuple(nodes)), rf"node {re.escape(user.name)} \(\w+\) uses %\w+ before it is defined")


@given(graphs(), st.data())
def test_rejects_redefinition(graph, data):
    node = data.draw(st.sampled_from(graph.nodes))
    rejects(graph.replace(nodes=graph.nodes + (node,)), rf"node {re.escape(node.name)} \(\w+\) redefines %")


@given(graphs(), st.data())
def test_rejects_wrong_declared_type(graph, data):
    node = data.draw(st.sampled_from(graph.nodes))
    declared = graph.types[node.output]
    wrong = data.draw(st.sampled_from([TensorType(declared.shape + (2,), declared.dtype),
                                       TensorType(declared.shape, DType.INT32)]))
    types = {**graph.types, node.output: wrong}
    rejects(graph.replace(types=types), rf"node {re.escape(node.name)} \(\w+\)")


def broken_attributes(node: Node, graph: Graph) -> list[Node]:
    """Ways to make `node`'s attributes invalid: an unknown key, a missing required one, an impossible value."""
    rank = len(graph.types[node.inputs[0]].shape)
    broken = [node.with_attrs(bogus=1)]
    impossible = {"axis": rank + 3, "perm": (0,) * (rank + 1), "shape": (-1,),
                  "axes": (rank + 3,), "groups": 1000, "kernel": (99, 99), "pads": ((0, 0),) * (rank + 1),
                  "normalized_ndim": rank + 1, "activation": ("SIGMOID",)}
    for key, value in impossible.items():
        if key in node.attrs:
            broken.append(node.with_attrs(**{key: value}))
    for key, default in OPS[node.op].attrs.items():
        if default is REQUIRED:
            broken.append(Node(node.op, node.inputs, node.outputs, {k: v for k, v in node.attrs.items() if k != key},
                               node.name))
    return broken


@given(graphs(), st.data())
def test_rejects_bad_attributes(graph, data):
    index = data.draw(st.integers(0, len(graph.nodes) - 1))
    node = graph.nodes[index]
    bad = data.draw(st.sampled_from(broken_attributes(node, graph)))
    nodes = graph.nodes[:index] + (bad,) + graph.nodes[index + 1:]
    rejects(graph.replace(nodes=nodes), rf"node {re.escape(node.name)} \({node.op.name}\)")


@given(graphs())
def test_rejects_dangling_output(graph):
    rejects(graph.replace(outputs=graph.outputs + ("nowhere",)), r"output %nowhere is never defined")
    rejects(graph.replace(outputs=()), r"graph has no outputs")


@given(graphs(), st.data(), st.sampled_from(["bad name", "1st", "int", "__x", "a.b"]))
def test_rejects_unsanitized_names(graph, data, bad):
    name = data.draw(st.sampled_from(sorted(graph.types)))
    rejects(rename_value(graph, name, bad), rf"value name {re.escape(repr(bad))} is not a sanitized identifier")


@given(graphs(), st.data())
def test_rejects_constant_data_that_mismatches_its_type(graph, data):
    assume(graph.constants)
    name = data.draw(st.sampled_from(sorted(graph.constants)))
    value = graph.constants[name]
    wrong = data.draw(st.sampled_from([value.astype(np.float64), value.reshape(-1)[:1].reshape(()) if value.ndim
                                       else value.reshape(1, 1)]))
    rejects(graph.replace(constants={**graph.constants, name: wrong}), rf"constant %{name} data .* does not match")


def test_rejects_an_input_that_is_also_a_constant():
    graph = small_graph()
    rejects(graph.replace(constants={**graph.constants, "x": np.zeros((1, 2), np.float32)}),
            r"input %x is also a constant")


def test_names_the_pass_it_runs_after():
    with pytest.raises(IRError, match=r"invalid IR after pass 'my_pass': output %nowhere"):
        verify(small_graph().replace(outputs=("nowhere",)), after="my_pass")
