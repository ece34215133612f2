"""A compiled Graph as MLIR text: linalg-on-tensors in one `func.func @main`, verified by the upstream verifier
before it is returned (`export_mlir`), and MLIR text parsed back and verified (`parse_and_verify`).

A graph that still holds `q` records (compiled for the C backend, say) is first written in primitive integer ops
by the spine's `lower_to_primitives`, so float and int8 graphs of any target export. The text is deterministic:
the same graph gives the same bytes (values numbered in graph order, weights as `dense_resource` blobs named after
their graph constants, locations naming the IR nodes).
"""

from __future__ import annotations

from edgelower.errors import BackendUnsupportedError, BuildError, Unsupported
from edgelower.ir.graph import DType, Graph
from edgelower.ir.traits import is_integer
from edgelower.passes.integer.decompose_integer import lower_to_primitives

from edgelower.backends.mlir.bindings import require_compiler
from edgelower.backends.mlir.rules import RULES, unsupported
from edgelower.backends.mlir.settings import ENTRY


def renderable(graph: Graph, target: str = "mlir export") -> Graph:
    """The graph the rules render: `q` records decomposed into primitive ops; every node checked by name."""
    if any(is_integer(node) for node in graph.nodes):
        graph = lower_to_primitives(graph)
    problems = [Unsupported(f"{node.op.name}: {why}", node.name, node.source) for node in graph.nodes
                if (why := unsupported(node, graph.types)) is not None]
    if problems:
        raise BackendUnsupportedError("mlir", target, problems)
    return graph


def build_module(graph: Graph):
    """The module of `graph` (already renderable) in the current `ir.Context`."""
    from edgelower.backends.mlir.builder import Emitter

    E = Emitter(graph)
    ir = E.ir
    module = ir.Module.create()
    results = [E.tensor_type(graph.types[o].shape, _interface(graph.types[o].dtype)) for o in graph.outputs]
    with ir.InsertionPoint(module.body):
        fn = E.func.FuncOp(ENTRY, ir.FunctionType.get([_arg_type(E, graph, i) for i in graph.inputs], results))
        block = fn.add_entry_block(arg_locs=[ir.Location.name(i) for i in graph.inputs])
        with ir.InsertionPoint(block):
            E.values.update(zip(graph.inputs, block.arguments))
            for node in graph.nodes:
                with ir.Location.name(node.name):
                    E.values[node.output] = RULES[node.op](E, node)
            with ir.Location.name("outputs"):
                E.func.ReturnOp([_interface_value(E, graph, o) for o in graph.outputs])
    return module


def _arg_type(E, graph: Graph, name: str):
    t = graph.types[name]
    return E.tensor_type(t.shape, t.dtype)


def _interface(dtype: DType) -> DType:
    """bool results leave as int8 (0 or 1): a byte per element, as numpy holds bool."""
    return DType.INT8 if dtype is DType.BOOL else dtype


def _interface_value(E, graph: Graph, name: str):
    t = graph.types[name]
    if t.dtype is not DType.BOOL:
        return E.value(name)
    return E.pointwise([(E.value(name), t.shape)], t.shape, DType.INT8,
                       lambda b: E.arith.extui(E.element(DType.INT8), b))


def export_mlir(graph: Graph, target: str = "mlir export") -> str:
    """`graph` as verified linalg-on-tensors MLIR text (with locations)."""
    graph = renderable(graph, target)
    ir = require_compiler().ir
    with ir.Context(), ir.Location.unknown():
        module = build_module(graph)
        _verified(module, f"the module built for graph {graph.name!r}")
        return module.operation.get_asm(enable_debug_info=True)


def parse_and_verify(text: str) -> None:
    """Parse MLIR text with upstream MLIR and run its verifier; raises BuildError with the diagnostics."""
    ir = require_compiler().ir
    with ir.Context():
        try:
            module = ir.Module.parse(text)
        except ir.MLIRError as e:
            raise BuildError(f"MLIR text does not parse: {e}") from e
        _verified(module, "the parsed module")


def _verified(module, what: str) -> None:
    ir = require_compiler().ir
    try:
        module.operation.verify()
    except ir.MLIRError as e:
        raise BuildError(f"upstream MLIR's verifier rejects {what}: {e}") from e
