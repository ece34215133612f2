"""The io_stream top function: `hls::stream` between layers under `#pragma HLS DATAFLOW`, AXI-Stream ports.

A 4-d tensor streams channels-last (pixel by pixel, channels inner), any other in C order (el_stream.h). A layer
with a stream-native kernel (LayerPlan.stream: convolutions and pools through line buffers, dense rows, elementwise
ops) reads and writes streams; any other runs as a stage that buffers its inputs in C order, calls its io_parallel
kernel and streams the result out. A value read by several layers (or also a graph output) is split by clone2
stages into one stream per reader; those streams hold a whole tensor so that no branch of a fork can stall the
other (in C-simulation streams are unbounded; the depth is what the hardware gets).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgelower.backends.writer import CodeWriter
from edgelower.ir.graph import Graph

from edgelower.backends.hls.plan import LayerPlan, element
from edgelower.backends.hls.render import Names, io_ports, node_comment, render_call, signature

SHALLOW = 2


def stream_order(shape: tuple[int, ...]) -> np.ndarray:
    """The C-order flat index of each element in the order a tensor of `shape` streams."""
    index = np.arange(int(np.prod(shape))).reshape(shape)
    return index.transpose(0, 2, 3, 1).reshape(-1) if len(shape) == 4 else index.reshape(-1)


@dataclass
class Stream:
    name: str
    value: str
    depth: int


def _read(value_shape, stream: str, array: str, numel: int) -> str:
    if len(value_shape) == 4:
        b, c, h, w = value_shape
        return f"el::read_nhwc<{b}, {c}, {h}, {w}>({stream}, {array})"
    return f"el::read_flat<{numel}>({stream}, {array})"


def _write(value_shape, array: str, stream: str, numel: int) -> str:
    if len(value_shape) == 4:
        b, c, h, w = value_shape
        return f"el::write_nhwc<{b}, {c}, {h}, {w}>({array}, {stream})"
    return f"el::write_flat<{numel}>({array}, {stream})"


def render_top(graph: Graph, plans: list[LayerPlan], names: Names, prefix: str) -> str:
    ports = {value: port for port, value, direction in io_ports(graph) if direction == "in"}
    out_ports = [(port, value) for port, value, direction in io_ports(graph) if direction == "out"]
    for _, value in out_ports:
        if value in graph.constants:
            raise ValueError(f"output %{value} is a constant")
    # Every reader of a streamed value: (node index, input position), or ("out", port).
    readers: dict[str, list] = {}
    for n, plan in enumerate(plans):
        for pos, value in enumerate(plan.node.inputs):
            if value not in graph.constants:
                readers.setdefault(value, []).append((n, pos))
    for port, value in out_ports:
        readers.setdefault(value, []).append(("out", port))

    streams: list[Stream] = []
    source: dict[str, str] = dict(ports)            # value -> the stream its producer writes
    reader_stream: dict[tuple, str] = {}             # (node, pos) or ("out", port) -> stream read
    clones: list[tuple[str, str, str, str]] = []     # (value, from, to_a, to_b), rendered after the producer

    def new_stream(hint: str, value: str, depth: int) -> str:
        name = names.idents.unique(hint)
        streams.append(Stream(name, value, depth))
        return name

    def route(value: str) -> None:
        """Streams from the producer of `value` to each of its readers, cloned when there are several."""
        users = readers.get(value, [])
        if len(users) == 1:
            reader_stream[users[0]] = source[value]
            return
        numel = graph.types[value].numel
        current = source[value]
        for i, user in enumerate(users):
            if i == len(users) - 1:
                reader_stream[user] = current
                break
            mine = new_stream(f"s_{value}_r{i}", value, numel)
            rest = new_stream(f"s_{value}_rest{i}", value, numel) if i < len(users) - 2 else \
                new_stream(f"s_{value}_r{i + 1}", value, numel)
            clones.append((value, current, mine, rest))
            reader_stream[user] = mine
            current = rest

    w = CodeWriter()
    body = CodeWriter()
    stages = CodeWriter()
    for value in graph.inputs:
        route(value)
        _render_clones(body, graph, clones)
    for n, plan in enumerate(plans):
        out = plan.node.output
        users = readers.get(out, [])
        if len(users) == 1 and users[0][0] == "out":
            source[out] = users[0][1]
        else:
            source[out] = new_stream(f"s_{out}", out, SHALLOW)
        inputs = [reader_stream.get((n, pos)) for pos in range(len(plan.node.inputs))]
        body.blank()
        body.comment(node_comment(plan) + ("" if plan.stream is not None else ": buffered"))
        if plan.stream is not None:
            _native(body, names, graph, plan, inputs, source[out])
        else:
            stage = _stage(stages, names, graph, plan, inputs)
            body.call(stage, [s for s in inputs if s is not None] + [source[out]])
        route(out)
        _render_clones(body, graph, clones)
    for port, value in out_ports:
        if source.get(value) != port:
            body.blank()
            body.comment(f"{port} is %{value}")
            body.statement(f"el::forward<{graph.types[value].numel}>({reader_stream[('out', port)]}, {port})")

    w.comment(f"Generated by edgelower: the io_stream top function of {prefix} (DATAFLOW). Do not edit.")
    for header in (f'"{prefix}.h"', '"el_hls.h"', '"parameters.h"', '"weights.h"'):
        w.line(f"#include {header}")
    w.blank()
    for line in stages.text().splitlines():
        w.line(line)
    w.blank()
    with w.function(signature(graph, prefix, "io_stream")):
        for port, _, _ in io_ports(graph):
            w.line(f"#pragma HLS INTERFACE axis port={port}")
        w.line("#pragma HLS INTERFACE s_axilite port=return")
        w.line("#pragma HLS DATAFLOW")
        for s in streams:
            w.statement(f"hls::stream<{element(graph.types[s.value])}> {s.name}(\"{s.name}\")")
            w.line(f"#pragma HLS STREAM variable={s.name} depth={s.depth}")
        for line in body.text().splitlines():
            w.line(line)
    return w.text()


def _render_clones(w: CodeWriter, graph: Graph, clones: list) -> None:
    for value, src, a, b in clones:
        w.call(f"el::clone2<{graph.types[value].numel}>", [src, a, b])
    clones.clear()


def _native(w: CodeWriter, names: Names, graph: Graph, plan: LayerPlan, inputs: list, output: str) -> None:
    taken = set()

    def value_name(value: str, _i: int) -> str:
        if value == plan.node.output:
            return output
        for pos, name in enumerate(plan.node.inputs):
            if name == value and pos not in taken:
                taken.add(pos)
                return inputs[pos]
        raise ValueError(f"{value} is not an input of {plan.node.name}")

    render_call(w, names, graph, plan, plan.stream, value_name)


def _stage(w: CodeWriter, names: Names, graph: Graph, plan: LayerPlan, inputs: list) -> str:
    """A function that buffers the node's streamed inputs in C order, runs its io_parallel calls, streams out."""
    node = plan.node
    name = names.idents.unique(f"stage_{node.name}")
    params, reads, buffers = [], [], {}
    for pos, value in enumerate(node.inputs):
        if inputs[pos] is None:
            continue
        t = graph.types[value]
        stream, array = f"in_{pos}", f"x_{pos}"
        params.append(f"hls::stream<{element(t)}> &{stream}")
        reads.append((f"{element(t)} {array}[{t.numel}]", _read(t.shape, stream, array, t.numel)))
        buffers.setdefault(value, array)
    y = graph.types[node.output]
    params.append(f"hls::stream<{element(y)}> &out")
    w.blank()
    w.comment(f"{node_comment(plan)}: buffers its input{'s' if len(reads) > 1 else ''}")
    with w.function(f"static void {name}({', '.join(params)})"):
        for decl, _ in reads:
            w.statement(decl)
        w.statement(f"{element(y)} y[{y.numel}]")
        for _, read in reads:
            w.statement(read)
        for call in plan.calls:
            render_call(w, names, graph, plan, call, lambda value, _i: "y" if value == node.output else buffers[value])
        w.statement(_write(y.shape, "y", "out", y.numel))
    return name


def forwards(in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> bool:
    """Whether a reshape keeps the element order of the stream (then it streams through unbuffered)."""
    return bool(np.array_equal(stream_order(in_shape), stream_order(out_shape)))
