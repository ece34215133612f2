"""Checks that a Graph is well formed: SSA names, topological order, every node well typed, no dangling values."""

from __future__ import annotations

import numpy as np

from edgelower.ir.packed import Packed

from edgelower.ir.graph import DType, Graph, Op
from edgelower.ir.ops import IRError, infer_types
from edgelower.ir.traits import is_integer, ops_where, traits
from edgelower.ir.names import sanitize


def verify(graph: Graph, after: str = "", integer_only: bool = False, primitive_only: bool = False) -> Graph:
    """Return the graph unchanged, or raise IRError naming the offending node (and the pass, if given).

    integer_only (the contract of docs/quantization.md after `lower_integer`): no float tensor anywhere, no
    QUANTIZE/DEQUANTIZE, every op that is only defined on floats carries its integer `q` record, and every int8
    graph input and output has quantization parameters (the caller converts with them).
    primitive_only (after `decompose_integer`): no float tensor, and no node carries a `q` record: every node is a
    primitive integer op or data movement (`PRIMITIVE_INTEGER_OPS`)."""
    where = f" after pass '{after}'" if after else ""

    def fail(msg: str) -> None:
        raise IRError(f"invalid IR{where}: {msg}")

    defined: set[str] = set()
    for name in graph.inputs:
        if name in graph.constants:
            fail(f"input %{name} is also a constant")
        defined.add(name)
    for name, data in graph.constants.items():
        t = graph.types.get(name)
        if t is None or tuple(data.shape) != t.shape or np.dtype(data.dtype) != t.dtype.numpy:
            fail(f"constant %{name} data {data.dtype}{list(data.shape)} does not match its type {t}")
        if isinstance(data, Packed):
            decoded = data.decode()
            if decoded.shape != t.shape or decoded.dtype != t.dtype.numpy:
                fail(f"packed constant %{name} decodes to {decoded.dtype}{list(decoded.shape)}, not its type {t}")
        defined.add(name)
    for name in graph.types:
        if name != sanitize(name):
            fail(f"value name {name!r} is not a sanitized identifier")
    for node in graph.nodes:
        for i in node.inputs:
            if i not in defined:
                fail(f"node {node.name} ({node.op.name}) uses %{i} before it is defined")
        for o in node.outputs:
            if o in defined:
                fail(f"node {node.name} ({node.op.name}) redefines %{o}")
            if o not in graph.types:
                fail(f"node {node.name} output %{o} has no type")
            defined.add(o)
        try:
            expected = infer_types(node.op, [graph.types[i] for i in node.inputs], node.attrs)
        except IRError as e:
            fail(f"node {node.name} ({node.op.name}): {e}")
        actual = [graph.types[o] for o in node.outputs]
        if [(t.shape, t.dtype) for t in expected] != [(t.shape, t.dtype) for t in actual]:
            fail(f"node {node.name} ({node.op.name}) declares {[str(t) for t in actual]} "
                 f"but its inputs give {[str(t) for t in expected]}")
    for o in graph.outputs:
        if o not in defined:
            fail(f"output %{o} is never defined")
    if not graph.outputs:
        fail("graph has no outputs")
    for name in graph.inputs:
        if graph.types[name].dtype not in (DType.FLOAT32, DType.INT8, DType.INT32, DType.INT64):
            fail(f"input %{name} has unsupported dtype {graph.types[name].dtype.value}")
    if integer_only:
        _check_integer_only(graph, fail)
    if primitive_only:
        _check_primitive_only(graph, fail)
    return graph


def _check_primitive_only(graph: Graph, fail) -> None:
    for node in graph.nodes:
        if is_integer(node) or not traits(node.op).primitive:
            fail(f"node {node.name} ({node.op.name}) is not a primitive integer op"
                 f"{' (it carries a q record)' if is_integer(node) else ''}")
    for name, t in graph.types.items():
        if t.dtype.is_float:
            fail(f"value %{name} is {t} in a graph of primitive integer ops")


def _check_integer_only(graph: Graph, fail) -> None:
    for node in graph.nodes:
        if node.op in (Op.QUANTIZE, Op.DEQUANTIZE) or (not traits(node.op).plain_integer and not is_integer(node)):
            fail(f"node {node.name} ({node.op.name}) is a float op in an integer-only graph")
    for name, t in graph.types.items():
        if t.dtype.is_float:
            fail(f"value %{name} is {t} in an integer-only graph")
    for name in graph.inputs + graph.outputs:
        if graph.types[name].dtype is DType.INT8 and graph.types[name].qparams is None:
            fail(f"int8 interface value %{name} has no quantization parameters")
