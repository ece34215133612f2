"""The .tflite under construction (`Exporter`: tensors, buffers, operators, each value's stored permutation) and
the helpers the op handlers share. The layout rules are in export.py's docstring."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edgelower.errors import EdgelowerError
from edgelower.ir.graph import DType, Graph, QParams
from edgelower.quant.records import f32

NHWC = (0, 2, 3, 1)
# The schema's OperatorCode.deprecated_builtin_code is an int8 field: codes above it are written as its maximum
# (PLACEHOLDER_FOR_GREATER_OP_CODES), the real code in builtin_code.
DEPRECATED_CODE_MAX = DType.INT8.max


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
        if t.dtype not in (DType.INT8, DType.INT32) or (t.dtype is DType.INT32 and t.qparams is not None):
            raise TFLiteExportError(f"value %{name} is {t.dtype.value}: a TFLite int8 model carries int8 values "
                                    "(and int32 indices)")
        perm = tuple(perm)
        index = self.tensor(name, permuted(t.shape, perm), t.dtype.numpy, t.qparams, perm=perm)
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
            index = self.tensor(f"{name}_{''.join(map(str, perm))}", permuted(t.shape, perm), t.dtype.numpy,
                                t.qparams, perm=perm)
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
            opcode.builtinCode, opcode.version = code, version
            opcode.deprecatedBuiltinCode = min(code, DEPRECATED_CODE_MAX)
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
    "RESIZE_NEAREST_NEIGHBOR": 2, "MAXIMUM": 2, "MINIMUM": 2, "QUANTIZE": 2, "RESIZE_BILINEAR": 2, "SUM": 2,
    "REDUCE_MAX": 2, "REDUCE_MIN": 2, "ARG_MAX": 2, "ARG_MIN": 2, "ABS": 2, "RSQRT": 2, "GATHER": 2,
}


def copy_output(exporter: Exporter, name: str, source: int) -> int:
    """A tensor of its own holding `source`'s bytes: a subgraph output may not be an input or another output."""
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
