"""Export an integer Graph as a .tflite flatbuffer that TensorFlow Lite Micro runs bit-exactly like `run_graph`.

The graph is the output of `lower_integer` (docs/quantization.md): int8 activations with per-tensor qparams,
int8 weights with per-channel (or per-tensor) symmetric qparams, int32 biases, and a `q` record on every
arithmetic node. The file is written with the flatbuffer object API bundled in tflite-micro
(`tflite_micro`'s `schema_py_generated`), so the export needs `flatbuffers` and
`tflite-micro` (extra `tflite`) and nothing else.

Every node's integer arithmetic is re-derived from the float32 scales written to the file with the constructor
of its q record that mirrors TFLite's Prepare; a record that differs from what TFLite Micro will compute is an
error, not a silent mismatch. Per-op translation lives in `edgelower.tflite_ops`.

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
from typing import Sequence

import numpy as np

from edgelower.errors import EdgelowerError
from edgelower.ir import DType, Graph, QParams
from edgelower.qattrs import f32

NHWC = (0, 2, 3, 1)


class TFLiteExportError(EdgelowerError):
    """The graph cannot be written as a .tflite that TFLite Micro runs exactly as the integer interpreter."""


def _schema():
    """(the tflite-micro flatbuffer schema's object API, the flatbuffers module that packs it)."""
    try:
        import flatbuffers
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
    except ImportError as e:
        raise ImportError("export_tflite needs `flatbuffers` and the tflite-micro flatbuffer schema: "
                          "pip install 'edgelower[tflite]'") from e
    return schema, flatbuffers


def identity(rank: int) -> tuple[int, ...]:
    return tuple(range(rank))


def preferred(rank: int) -> tuple[int, ...]:
    """The permutation a value of this rank lives in unless an op decides otherwise: NHWC for images."""
    return NHWC if rank == 4 else identity(rank)


def inverse(perm: Sequence[int]) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for k, p in enumerate(perm):
        inv[p] = k
    return tuple(inv)


def permuted(shape: Sequence[int], perm: Sequence[int]) -> list[int]:
    return [int(shape[p]) for p in perm]


class Exporter:
    """Builds one subgraph: tensors, buffers, operator codes and operators, and where each IR value lives."""

    def __init__(self, graph: Graph, channels_last_io: bool):
        self.schema, self.flatbuffers = _schema()
        self.graph = graph
        self.channels_last_io = channels_last_io
        self.tensors: list = []
        self.buffers: list = [self.schema.BufferT()]  # buffer 0: the empty buffer of every non-constant tensor
        self.operators: list = []
        self.opcodes: dict[tuple[int, int], int] = {}
        self.home: dict[str, tuple[int, ...]] = {}                 # value -> permutation of its defining tensor
        self.located: dict[tuple[str, tuple[int, ...]], int] = {}  # (value, permutation) -> tensor index

    # tensors

    def _quantization(self, qparams: QParams | None, perm: Sequence[int]):
        if qparams is None:
            return None
        q = self.schema.QuantizationParametersT()
        q.scale = [f32(s) for s in qparams.scale]
        q.zeroPoint = [int(z) for z in qparams.zero_point]
        q.quantizedDimension = 0 if qparams.axis is None else inverse(perm)[qparams.axis]
        return q

    def tensor(self, name: str, shape: Sequence[int], dtype: np.dtype, qparams: QParams | None = None,
               data: np.ndarray | None = None, perm: Sequence[int] | None = None) -> int:
        """A new tensor; `shape` and `data` are already in file order, `perm` maps a per-axis qparams axis."""
        schema = self.schema
        t = schema.TensorT()
        t.name = name
        t.shape = [int(d) for d in shape]
        t.type = {np.dtype(np.int8): schema.TensorType.INT8, np.dtype(np.int32): schema.TensorType.INT32}[
            np.dtype(dtype)]
        t.quantization = self._quantization(qparams, perm if perm is not None else identity(len(shape)))
        if data is not None:
            buffer = schema.BufferT()
            buffer.data = np.frombuffer(np.ascontiguousarray(data, dtype).tobytes(), np.uint8)
            self.buffers.append(buffer)
            t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        return len(self.tensors) - 1

    def int32_constant(self, name: str, values: Sequence[int]) -> int:
        values = np.asarray(values, np.int32).reshape(-1)
        return self.tensor(name, [values.size], np.int32, data=values)

    def int8_constant(self, name: str, value: int, qparams: QParams) -> int:
        """A one-element int8 constant (a clamp bound or pad value) with the qparams of the tensor it meets."""
        return self.tensor(name, [1], np.int8, qparams, np.asarray([value], np.int8))

    # values

    def define(self, name: str, perm: Sequence[int]) -> int:
        """The tensor an op writes for IR value `name`, stored with permutation `perm`."""
        t = self.graph.types[name]
        if t.dtype is not DType.INT8:
            raise TFLiteExportError(f"value %{name} is {t.dtype.value}: a TFLite int8 model carries int8 values")
        perm = tuple(perm)
        index = self.tensor(name, permuted(t.shape, perm), np.int8, t.qparams, perm=perm)
        self.home[name], self.located[(name, perm)] = perm, index
        return index

    def alias(self, name: str, source: str, perm: Sequence[int]) -> None:
        """Value `name` is stored in the very tensor of `source` (an op that only relabels dims)."""
        index = self.located[(source, self.home[source])]
        self.home[name], self.located[(name, tuple(perm))] = tuple(perm), index

    def value(self, name: str, perm: Sequence[int]) -> int:
        """The tensor holding value `name` with permutation `perm`, converting it (once) if needed."""
        perm = tuple(perm)
        if (name, perm) in self.located:
            return self.located[(name, perm)]
        t = self.graph.types[name]
        if name in self.graph.constants:
            data = np.transpose(self.graph.constants[name], perm)
            index = self.tensor(name if name not in self.home else f"{name}_{''.join(map(str, perm))}",
                                data.shape, data.dtype, t.qparams, data, perm)
            self.home.setdefault(name, perm)
        else:
            home = self.home[name]
            source = self.located[(name, home)]
            inv_home = inverse(home)
            transpose = [inv_home[p] for p in perm]
            index = self.tensor(f"{name}_{''.join(map(str, perm))}", permuted(t.shape, perm), np.int8, t.qparams,
                                perm=perm)
            nonunit = [k for k in transpose if permuted(t.shape, home)[k] != 1]
            if nonunit == sorted(nonunit):  # only unit dims move: the bytes are already in order
                shape = self.int32_constant(f"{name}_shape", permuted(t.shape, perm))
                self.op("RESHAPE", [source, shape], [index], "ReshapeOptions",
                        newShape=permuted(t.shape, perm))
            else:
                self.op("TRANSPOSE", [source, self.int32_constant(f"{name}_perm", transpose)], [index])
        self.located[(name, perm)] = index
        return index

    # operators

    def op(self, builtin: str, inputs: Sequence[int], outputs: Sequence[int], options: str | None = None,
           **fields) -> None:
        schema = self.schema
        code = getattr(schema.BuiltinOperator, builtin)
        version = OP_VERSIONS.get(builtin, 1)
        self.opcodes.setdefault((code, version), len(self.opcodes))
        operator = schema.OperatorT()
        operator.opcodeIndex = self.opcodes[(code, version)]
        operator.inputs, operator.outputs = [int(i) for i in inputs], [int(o) for o in outputs]
        if options is not None:
            operator.builtinOptionsType = getattr(schema.BuiltinOptions, options)
            operator.builtinOptions = getattr(schema, options + "T")()
            for key, val in fields.items():
                if not hasattr(operator.builtinOptions, key):
                    raise AttributeError(f"{options} has no field {key}")
                setattr(operator.builtinOptions, key, val)
        self.operators.append(operator)

    def finish(self, inputs: list[int], outputs: list[int]) -> bytes:
        schema = self.schema
        subgraph = schema.SubGraphT()
        subgraph.tensors, subgraph.inputs, subgraph.outputs = self.tensors, inputs, outputs
        subgraph.operators, subgraph.name = self.operators, self.graph.name
        model = schema.ModelT()
        model.version, model.description = 3, "edgelower"
        opcodes = sorted(self.opcodes.items(), key=lambda item: item[1])
        model.operatorCodes = []
        for (code, version), _ in opcodes:
            opcode = schema.OperatorCodeT()
            opcode.builtinCode, opcode.deprecatedBuiltinCode, opcode.version = code, min(code, 127), version
            model.operatorCodes.append(opcode)
        model.subgraphs, model.buffers = [subgraph], self.buffers
        builder = self.flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


# Operator versions for int8 operands (TFLite's op_version.cc); TFLite Micro accepts any version it knows.
OP_VERSIONS = {
    "CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 4, "BATCH_MATMUL": 1, "ADD": 2, "SUB": 2, "MUL": 2,
    "AVERAGE_POOL_2D": 2, "MAX_POOL_2D": 2, "MEAN": 2, "RELU": 2, "RELU6": 2, "HARD_SWISH": 1, "LOGISTIC": 2,
    "TANH": 2, "SOFTMAX": 2, "TRANSPOSE": 2, "CONCATENATION": 2, "STRIDED_SLICE": 2, "PAD": 2, "PADV2": 2,
    "RESIZE_NEAREST_NEIGHBOR": 2, "MAXIMUM": 2, "MINIMUM": 2, "QUANTIZE": 2,
}


def export_tflite(graph: Graph, path: str | os.PathLike | None = None, *, channels_last_io: bool = False) -> bytes:
    """Write `graph` (an integer graph) as a .tflite flatbuffer; returns its bytes and writes them to `path`.

    Raises TFLiteExportError naming every op TFLite Micro lacks, and any node whose arithmetic TFLite Micro would
    compute differently."""
    from edgelower.tflite_ops import HANDLERS, absorbed_requantizes

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
            index = _copy(exporter, name, index)
        outputs.append(index)
    data = exporter.finish(inputs, outputs)
    if path is not None:
        with open(path, "wb") as f:
            f.write(data)
    return data


def _copy(exporter: Exporter, name: str, source: int) -> int:
    t = exporter.tensors[source]
    shape = list(t.shape)
    index = exporter.tensor(f"{name}_out", shape, np.int8)
    exporter.tensors[index].quantization = t.quantization
    exporter.op("RESHAPE", [source, exporter.int32_constant(f"{name}_out_shape", shape)], [index], "ReshapeOptions",
                newShape=shape)
    return index


def per_tensor(ex: Exporter, name: str) -> tuple[float, int]:
    """(scale, zero point) of a per-tensor quantized value."""
    qp = ex.graph.types[name].qparams
    if qp is None or len(qp.scale) != 1:
        raise TFLiteExportError(f"value %{name} needs per-tensor quantization parameters, has {qp}")
    return qp.scale[0], qp.zero_point[0]


def same_qparams(ex: Exporter, names: Sequence[str]) -> None:
    """TFLite copies or compares int8 bytes: every value must have one and the same scale and zero point."""
    params = {per_tensor(ex, n) for n in names}
    if len(params) != 1:
        raise TFLiteExportError(f"TFLite copies int8 bytes here: {list(names)} need one scale and zero point, "
                                f"have {sorted(params)}")


def home_of(ex: Exporter, name: str) -> tuple[int, ...]:
    """The permutation value `name` is stored with (constants: their natural order)."""
    return ex.home.get(name, identity(len(ex.graph.types[name].shape)))
