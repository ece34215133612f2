"""Export an integer Graph as a .tflite flatbuffer that TensorFlow Lite Micro runs bit-exactly like `run_graph`.

The graph is the output of `lower_integer` (docs/quantization.md): int8 activations with per-tensor qparams,
int8 weights with per-channel (or per-tensor) symmetric qparams, int32 biases, and a `q` record on every
arithmetic node. The file is written with the flatbuffer object API bundled in tflite-micro
(`tflite_micro`'s `schema_py_generated`), so the export needs `flatbuffers` and
`tflite-micro` (extra `tflite`) and nothing else.

Every node's integer arithmetic is re-derived from the float32 scales written to the file with the constructor
of its q record that mirrors TFLite's Prepare; a record that differs from what TFLite Micro will compute is an
error, not a silent mismatch. Per-op translation lives in `edgelower.backends.tflite.ops` and `.data_movement`.

Layout. TFLite's spatial ops are NHWC, ours NCHW. Each value lives in the file as one tensor holding a
permutation of its natural (IR) dims: `perm[k]` is the natural dim stored at file dim k. Spatial ops produce and
consume NHWC (0, 2, 3, 1); element-wise ops keep their input's permutation; PERMUTE only relabels, costing
nothing; a consumer that needs another permutation gets a TRANSPOSE (or a RESHAPE when only unit dims move),
emitted once per value and permutation. Graph inputs and outputs keep the IR's NCHW layout by default, so the
.tflite takes and returns the same arrays as `run_graph` (TRANSPOSE ops sit at the boundary);
`channels_last_io=True` declares 4-d inputs and outputs NHWC instead, for deployment.
"""

from __future__ import annotations

import os

from edgelower.ir.graph import Graph

from edgelower.backends.tflite.exporter import Exporter, TFLiteExportError, copy_output, identity, preferred
from edgelower.backends.tflite.handlers import HANDLERS, absorbed_requantizes


def export_tflite(graph: Graph, path: str | os.PathLike | None = None, *, channels_last_io: bool = False) -> bytes:
    """Write `graph` (an integer graph) as a .tflite flatbuffer; returns its bytes and writes them to `path`.

    Raises TFLiteExportError naming every op TFLite Micro lacks, and any node whose arithmetic TFLite Micro would
    compute differently."""
    missing = sorted({f"{n.op.name} (node {n.name})" for n in graph.nodes if n.op not in HANDLERS})
    if missing:
        raise TFLiteExportError(f"TFLite Micro has no int8 kernel for: {', '.join(missing)}")
    exporter = Exporter(graph, channels_last_io)
    inputs = []
    for name in graph.inputs:
        t = graph.types[name]
        perm = preferred(len(t.shape)) if channels_last_io else identity(len(t.shape))
        inputs.append(exporter.define(name, perm))
    skip = absorbed_requantizes(graph)
    for node in graph.nodes:
        if node.name in skip:
            continue
        try:
            HANDLERS[node.op](exporter, node)
        except TFLiteExportError as e:
            raise TFLiteExportError(f"node {node.name} ({node.op.name}): {e}") from None
    outputs = []
    for name in graph.outputs:
        rank = len(graph.types[name].shape)
        index = exporter.value(name, preferred(rank) if channels_last_io else identity(rank))
        if index in inputs or index in outputs:  # a subgraph output must be a tensor of its own
            index = copy_output(exporter, name, index)
        outputs.append(index)
    data = exporter.finish(inputs, outputs)
    if path is not None:
        with open(path, "wb") as f:
            f.write(data)
    return data
