"""Running graphs on the reference definitions: `evaluate_node`, `run_graph`, and `run_schedule` on a simulated
arena, so that a wrong memory plan changes the result. Nodes with a `q` record run `INTEGER_IMPLS`, the rest
`IMPLS`."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from edgelower.interp.float_ops import IMPLS as FLOAT_IMPLS
from edgelower.interp.integer import INTEGER_IMPLS
from edgelower.interp.primitives import PRIMITIVE_IMPLS
from edgelower.ir.graph import Graph, Node, Op, TensorType
from edgelower.ir.packed import dense
from edgelower.ir.ops import OPS, complete_attrs
from edgelower.ir.schedule import Schedule

# Nodes without a `q` record: float ops, and integer ops that wrap like C.
IMPLS = {**FLOAT_IMPLS, **PRIMITIVE_IMPLS}

assert set(IMPLS) | set(INTEGER_IMPLS) == set(Op), \
    f"ops without a reference implementation: {set(Op) - set(IMPLS) - set(INTEGER_IMPLS)}"


def evaluate_node(node: Node, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """The outputs of one node on concrete inputs. Outputs may be read-only views of the inputs."""
    sig = OPS[node.op]
    if not sig.min_inputs <= len(arrays) <= sig.max_inputs:
        raise ValueError(f"node {node.name} ({node.op.name}) takes {sig.min_inputs}..{sig.max_inputs} inputs, "
                         f"got {len(arrays)}")
    attrs = complete_attrs(node.op, node.attrs)
    try:
        # IEEE results (inf, nan) are the definition, as in torch; numpy's warnings about them are noise.
        with np.errstate(all="ignore"):
            table = IMPLS if attrs["q"] is None else INTEGER_IMPLS
            if node.op not in table:
                raise ValueError(f"no {'float' if attrs['q'] is None else 'integer'} form of {node.op.name}")
            outs = table[node.op]([np.asarray(a) for a in arrays], attrs)
    except (ValueError, IndexError) as e:
        raise ValueError(f"node {node.name} ({node.op.name}): {e}") from e
    if len(outs) != len(node.outputs):
        raise ValueError(f"node {node.name} ({node.op.name}) gave {len(outs)} outputs for {len(node.outputs)}")
    return outs


def _check_value(what: str, array: np.ndarray, expected: TensorType) -> None:
    if tuple(array.shape) != expected.shape or array.dtype != expected.dtype.numpy:
        raise ValueError(f"{what}: expected {expected.dtype.value}{list(expected.shape)}, "
                         f"got {array.dtype}{list(array.shape)}")


def _bind_inputs(graph: Graph, inputs: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    if len(inputs) != len(graph.inputs):
        raise ValueError(f"graph {graph.name} takes {len(graph.inputs)} inputs ({', '.join(graph.inputs)}), "
                         f"got {len(inputs)}")
    bound = {}
    for name, value in zip(graph.inputs, inputs):
        array = np.asarray(value)
        _check_value(f"input %{name}", array, graph.types[name])
        bound[name] = array
    return bound


def _evaluate_checked(node: Node, arrays: list[np.ndarray], types: Mapping[str, TensorType]) -> list[np.ndarray]:
    outs = evaluate_node(node, arrays)
    for name, out in zip(node.outputs, outs):
        _check_value(f"node {node.name} ({node.op.name}) output %{name}", out, types[name])
    return outs


def run_graph(graph: Graph, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run every node in order; return fresh copies of the outputs."""
    values: dict[str, np.ndarray] = {**{k: dense(v) for k, v in graph.constants.items()},
                                     **_bind_inputs(graph, inputs)}
    for node in graph.nodes:
        values.update(zip(node.outputs, _evaluate_checked(node, [values[i] for i in node.inputs], graph.types)))
    return [np.array(values[name]) for name in graph.outputs]


def _arena_views(schedule: Schedule, arena: np.ndarray) -> dict[str, np.ndarray]:
    """Each arena buffer as a typed view of its bytes: a wrong plan shows up as clobbered values."""
    views = {}
    for buf in schedule.arena_buffers():
        if buf.offset is None:
            raise ValueError(f"buffer %{buf.name} ({buf.kind.value}) has no arena offset: plan memory first")
        if buf.offset < 0 or buf.offset + buf.nbytes > arena.size:
            raise ValueError(f"buffer %{buf.name} [{buf.offset}, {buf.offset + buf.nbytes}) does not fit in the "
                             f"{arena.size}-byte arena")
        raw = arena[buf.offset:buf.offset + buf.nbytes]
        views[buf.name] = raw.view(buf.type.dtype.numpy).reshape(buf.type.shape)
    return views


def run_schedule(schedule: Schedule, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run a planned schedule with every non-constant buffer living at its offset in one simulated arena. View
    kernels run nothing (their output must already be their input's bytes) and every kernel's scratch bytes are
    overwritten before it runs, so a plan that shares bytes it must not changes the result."""
    graph = schedule.graph
    arena = np.zeros(schedule.arena_bytes, np.uint8)
    views = _arena_views(schedule, arena)

    def lookup(name: str) -> np.ndarray:
        if name in graph.constants:
            return graph.constant(name)
        if name not in views:
            raise ValueError(f"value %{name} has no buffer in the schedule")
        return views[name]

    for name, array in _bind_inputs(graph, inputs).items():
        np.copyto(lookup(name), array)
    types = {name: buf.type for name, buf in schedule.buffers.items()}
    for kernel in schedule.kernels:
        node = kernel.node
        if kernel.view:
            continue  # its output is its input's bytes, as planned: nothing runs, so a wrong plan shows
        for name in kernel.scratch:  # a kernel may leave anything in its work space
            buf = schedule.buffers[name]
            arena[buf.offset:buf.offset + buf.nbytes] = 0xFF
        outs = _evaluate_checked(node, [lookup(i) for i in node.inputs], types)
        # Every result is complete (and detached from the arena) before any output byte is written, so an
        # output planned in place over an input reads the input first, as a correct kernel must.
        outs = [np.array(o) if np.may_share_memory(o, arena) else o for o in outs]
        for name, out in zip(node.outputs, outs):
            np.copyto(lookup(name), out)
    return [np.array(lookup(name)) for name in graph.outputs]
