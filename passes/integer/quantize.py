"""Post-training calibration: give every float tensor the int8 quantization parameters `lower_integer` needs.

Pre: a float32 graph (canonicalized, batch norm folded); `options.calibration` holds input samples, unless every
tensor that needs parameters already has them (a PT2E model: capture keeps its quantize/dequantize parameters).
Post: the same nodes and constants; every float activation has int8 per-tensor qparams except the result of an
op fused into a following RELU/CLAMP; CONV2D/LINEAR weights are symmetric per output channel; their biases carry
the int32 scale input_scale x weight_scale[c].

The parameters follow TFLite's int8 spec (https://www.tensorflow.org/lite/performance/quantization_spec):
- activations: asymmetric per tensor, from the observed range widened to include 0 (`affine_qparams`);
- weights: per output channel (axis 0), symmetric (`QParams.narrow`), zero point 0; bias: int32, zero point 0;
- GELU's output scale is at least int_transformer.GELU_MIN_OUTPUT_SCALE (I-BERT's i-GELU keeps its error bound
  only on a grid that coarse);
- outputs TFLite fixes: SOFTMAX and SIGMOID 1/256 with zero point int8's minimum, TANH 1/128 with 0, LOG_SOFTMAX
  16/256 with int8's maximum (the integer kernels' output formats);
- data movement, MAX_POOL2D, REDUCE_MAX, AVG_POOL2D and a standalone RELU/CLAMP have the same parameters in and
  out, so their integer form moves, averages or clamps int8 values without rescaling (TFLite's int8
  AVERAGE_POOL_2D wants one scale; an average never leaves its input's range). PAD is observed instead: its range
  holds the fill value, so the fill lies on its grid; MEAN too (TFLM's MEAN rescales its sum once);
- X -> RELU/CLAMP, X in CONV2D, LINEAR, MATMUL, ADD, SUB, MUL and the activation the only use of X's result: X's
  result is never stored in int8 (TFLite folds the activation into X's requantization range), so it has no
  parameters; the activation's result is observed on its own.
Parameters already present (PT2E) are kept. Values without an observation (no calibration, PT2E ops the quantizer
left in float) keep none: `lower_integer` keeps them in float or names them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

import numpy as np

from edgelower.errors import CalibrationError
from edgelower.quant.transformer import GELU_MIN_OUTPUT_SCALE
from edgelower.interp import evaluate_node
from edgelower.ir.graph import DType, Graph, Node, Op, QParams, TensorType
from edgelower.quant.observers import OBSERVERS, affine_qparams, float32_scale, make_observer, symmetric_channel_qparams
from edgelower.ir.traits import ops_where, traits

FIXED_OUTPUT: dict[Op, QParams] = {
    Op.SOFTMAX: QParams((1 / 256,), (DType.INT8.min,)),
    Op.SIGMOID: QParams((1 / 256,), (DType.INT8.min,)),
    Op.TANH: QParams((1 / 128,), (0,)),
    Op.LOG_SOFTMAX: QParams((16 / 256,), (DType.INT8.max,)),
}

# The finest output scale an integer form keeps within its error bound (int_transformer.ERROR_BOUNDS): a finer
# observed range is widened to this scale.
MIN_OUTPUT_SCALE: dict[Op, float] = {Op.GELU: GELU_MIN_OUTPUT_SCALE}

# int8 in and out with the input's parameters: these ops move, select or clamp values without arithmetic.
SHARES_INPUT = ops_where(shares_qparams=True)

# Producers whose integer form ends in a requantization that can clamp to an activation's range.
FUSES_INTO_REQUANTIZE = ops_where(accumulates=True) | {Op.ADD, Op.SUB, Op.MUL}
FUSABLE_ACTIVATIONS = ops_where(clamps=True)

WEIGHTED = frozenset(op for op in ops_where(accumulates=True) if 1 in traits(op).parameters)
# Constant inputs the integer lowering quantizes itself: weights per channel, int32 biases, LayerNorm's affine
# parameters (folded into its integer record). They get no activation parameters and no DEQUANTIZE.
# POW's exponent becomes part of a LOOKUP table (lower_tables), in float.
PARAMETERS: dict[Op, tuple[int, ...]] = {Op.CONV2D: (1, 2), Op.LINEAR: (1, 2), Op.LAYER_NORM: (1, 2), Op.POW: (1,)}


def is_parameter(graph: Graph, name: str) -> bool:
    """A constant read only as a PARAMETERS input."""
    uses = [(node, k) for node in graph.nodes for k, i in enumerate(node.inputs) if i == name]
    return name in graph.constants and bool(uses) and all(k in PARAMETERS.get(node.op, ()) for node, k in uses)


@dataclass(frozen=True, eq=False)
class QuantizeOptions:
    """What `quantize` needs besides the graph: calibration samples (each one array per graph input, in order;
    a bare array stands for a one-input sample) and the observer, one of "minmax", "percentile", "mse".
    The samples are copied into read-only arrays; their shapes and dtypes are checked against the graph."""

    calibration: tuple[tuple[np.ndarray, ...], ...] = ()
    observer: str = "minmax"
    percentile: float = 99.99  # for observer="percentile": clip to this percentile (and 100 minus it)

    def __post_init__(self):
        if self.observer not in OBSERVERS:
            raise ValueError(f"observer={self.observer!r}; choose one of {', '.join(OBSERVERS)}")
        samples = []
        for sample in self.calibration or ():
            sample = (sample,) if isinstance(sample, np.ndarray) else tuple(sample)
            arrays = []
            for x in sample:
                a = np.array(x, copy=True)
                a.setflags(write=False)
                arrays.append(a)
            samples.append(tuple(arrays))
        object.__setattr__(self, "calibration", tuple(samples))


def check_calibration(graph: Graph, samples: Iterable[tuple[np.ndarray, ...]]) -> None:
    """Raise CalibrationError naming the first sample and input whose count, shape or dtype is wrong."""
    for i, sample in enumerate(samples):
        if len(sample) != len(graph.inputs):
            raise CalibrationError(f"calibration sample {i} has {len(sample)} input(s); the model takes "
                                   f"{len(graph.inputs)} ({', '.join(graph.inputs)})")
        for j, (name, x) in enumerate(zip(graph.inputs, sample)):
            t = graph.types[name]
            if tuple(x.shape) != t.shape or x.dtype != t.dtype.numpy:
                raise CalibrationError(f"calibration sample {i}, input {j} (%{name}): expected "
                                       f"{t.dtype.value}{list(t.shape)}, got {x.dtype}{list(x.shape)}")


def _fused_results(graph: Graph) -> set[str]:
    """Results of X in FUSES_INTO_REQUANTIZE whose only use is a RELU/CLAMP (and which are no graph output)."""
    users = graph.users()
    fused = set()
    for node in graph.nodes:
        if node.op in FUSES_INTO_REQUANTIZE and node.attrs.get("activation") is None:
            readers = users.get(node.output, [])
            if node.output not in graph.outputs and len(readers) == 1 and readers[0].op in FUSABLE_ACTIVATIONS:
                fused.add(node.output)
    return fused


def _weight_constants(graph: Graph) -> set[str]:
    """Float constants read only as CONV2D/LINEAR weights: these get per-channel symmetric parameters."""
    weight, other = set(), set()
    for node in graph.nodes:
        for k, name in enumerate(node.inputs):
            if name in graph.constants:
                (weight if node.op in WEIGHTED and k == 1 else other).add(name)
    return {w for w in weight - other if graph.types[w].dtype.is_float}


def _observe(graph: Graph, options: QuantizeOptions, wanted: set[str]) -> dict[str, tuple[float, float]]:
    """Run the float graph on every calibration sample; the observed range of each value in `wanted`."""
    samples = options.calibration
    observers = {name: make_observer(options.observer, len(samples), options.percentile)
                 for name in wanted if name not in graph.constants}
    for sample in samples:
        values: dict[str, np.ndarray] = {**graph.constants, **dict(zip(graph.inputs, sample))}
        for name in graph.inputs:
            if name in observers:
                observers[name].observe(values[name])
        for node in graph.nodes:
            outs = evaluate_node(node, [values[i] for i in node.inputs])
            for name, out in zip(node.outputs, outs):
                values[name] = out
                if name in observers:
                    observers[name].observe(out)
    ranges = {name: obs.range() for name, obs in observers.items()}
    for name in wanted & set(graph.constants):  # constants are exact: their own extremes, never clipped
        data = graph.constants[name]
        ranges[name] = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
    return ranges


def _needs_observation(graph: Graph, fused: set[str], weights: set[str]) -> set[str]:
    """Float values whose parameters come from observed ranges (not fixed, shared, derived or given)."""
    derived = set(weights) | fused | {name for name in graph.constants if is_parameter(graph, name)}
    for node in graph.nodes:
        if node.op in FIXED_OUTPUT or (node.op in SHARES_INPUT and node.inputs[0] not in fused):
            derived.add(node.output)
    float_values = {name for name, t in graph.types.items() if t.dtype.is_float and t.qparams is None}
    return float_values - derived


def _bias_qparams(graph: Graph, types: dict[str, TensorType], node: Node) -> QParams | None:
    x, w = (types[i].qparams for i in node.inputs[:2])
    if x is None or w is None:
        return None
    scales = tuple(float32_scale(x.scale[0] * s) for s in w.scale)
    return QParams.for_dtype(DType.INT32, scales, (0,) * len(scales), 0 if len(scales) > 1 else None)


def _assign(graph: Graph, ranges: dict[str, tuple[float, float]], fused: set[str],
            weights: set[str]) -> dict[str, TensorType]:
    """Every value's type with its parameters, in topological order (shared parameters flow forward)."""
    types = dict(graph.types)

    def annotate(name: str, qparams: QParams | None) -> None:
        t = types[name]
        if qparams is not None and t.dtype.is_float and t.qparams is None:
            types[name] = replace(t, qparams=qparams)

    for name in weights:
        annotate(name, symmetric_channel_qparams(graph.constants[name], axis=0))
    producers = graph.producers()
    for name, (lo, hi) in ranges.items():
        finest = MIN_OUTPUT_SCALE.get(producers[name].op if name in producers else None, 0.0)
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        annotate(name, affine_qparams(lo, max(hi, lo + 255 * finest * (1 + 2 ** -20))))
    for node in graph.nodes:
        if node.op in WEIGHTED and len(node.inputs) == 3 and node.inputs[2] in graph.constants:
            annotate(node.inputs[2], _bias_qparams(graph, types, node))
        if node.op in FIXED_OUTPUT:
            annotate(node.output, FIXED_OUTPUT[node.op])
        elif node.op in SHARES_INPUT and node.inputs[0] not in fused:
            annotate(node.output, types[node.inputs[0]].qparams)
    return types


def quantize(graph: Graph, options: QuantizeOptions = QuantizeOptions()) -> Graph:
    """The graph with int8 quantization parameters on its float tensors (see the module docstring)."""
    fused = _fused_results(graph)
    weights = _weight_constants(graph)
    wanted = _needs_observation(graph, fused, weights)
    observable = {name for name in wanted if name in graph.constants}
    if wanted - observable and not options.calibration:
        if not any(t.qparams is not None for t in graph.types.values()):
            raise CalibrationError(
                "quantize='int8' needs calibration data: pass calibration=[inputs, ...] (a few hundred typical "
                "inputs, each a tuple of arrays like the example inputs), or compile a model quantized with "
                "torchao's PT2E flow (prepare_pt2e / convert_pt2e), which carries its own parameters")
        wanted = observable  # PT2E: what its quantizer left unquantized stays without parameters
    check_calibration(graph, options.calibration)
    ranges = _observe(graph, options, wanted) if wanted else {}
    return graph.replace(types=_assign(graph, ranges, fused, weights))
