"""The torch.compile backend: `torch.compile(model, backend="edgelower", options={"target": "host"})`.

Pre: the FX graph dynamo captured, with real example inputs among which are the model's parameters and buffers
(dynamo lifts them to graph inputs). Post: a callable over the same inputs that runs the compiled artifact with the
parameters baked in as constants. When capture finds unsupported ops, on the host the supported regions are
compiled and the unsupported ops run in eager PyTorch between them (edgelower.frontend.dynamo_regions); on firmware targets,
or with dynamic shapes, the whole graph runs in eager PyTorch. Either way after exactly one warning naming what
stayed in eager: never a wrong answer.

edgelower compiles inference: the graph is traced under no_grad, so the outputs carry no autograd history, and
parameters are read once, at compile time (change them and the compiled model keeps the old values).
"""

from __future__ import annotations

import contextlib
import re
import warnings
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch._dynamo.backends.common import aot_autograd
from torch._functorch.aot_autograd import make_boxed_func

from edgelower.frontend.capture import capture_graph_module, decomposition_table
from edgelower.frontend.dynamo_regions import ModelState, compile_regions, eager_summary
from edgelower.errors import BackendUnsupportedError, CaptureError, UnsupportedOpError
from edgelower.targets import get_target


def edgelower_backend(gm: torch.fx.GraphModule, example_inputs: Sequence[Any], options: dict | None = None):
    """Dynamo backend: decompose through aot_autograd with capture's table, capture the forward graph, compile."""
    options = dict(options or {})
    target = get_target(options.pop("target", "host"))
    lifted, weights, names = _model_state(gm, example_inputs)

    def compile_forward(aot_gm: torch.fx.GraphModule, aot_inputs: Sequence[Any]) -> Callable:
        from edgelower import driver

        placeholders = [n for n in aot_gm.graph.nodes if n.op == "placeholder"]
        try:
            if len(placeholders) != lifted + len(example_inputs):
                raise CaptureError(f"aot_autograd produced {len(placeholders)} inputs for "
                                   f"{lifted + len(example_inputs)} model inputs (aliased or mutated inputs?)")
            graph = capture_graph_module(aot_gm, aot_inputs, {i: t for i, (_, t) in weights.items()},
                                         {**names, **{i: n for i, (n, _) in weights.items()}})
        except CaptureError as e:
            _warn_eager(f"edgelower cannot compile this graph, so it runs in eager PyTorch: {e}")
            return make_boxed_func(aot_gm.forward)
        except UnsupportedOpError as e:
            return _partial(aot_gm, e, ModelState(weights, names), target, options,
                            lambda g: driver.compile_graph(g, target=target.name, **options))
        try:
            compiled = driver.compile_graph(graph, target=target.name, **options)
        except BackendUnsupportedError as e:
            _warn_eager(f"edgelower cannot compile this graph for {target.name}, so it runs in eager PyTorch: "
                        f"{e.listing}")
            return make_boxed_func(aot_gm.forward)
        return _runner(compiled, [i for i in range(len(placeholders)) if i not in weights])

    compiler = aot_autograd(fw_compiler=compile_forward, decompositions=decomposition_table())
    with torch.no_grad(), _without_mkldnn():
        return compiler(gm, example_inputs)


@contextlib.contextmanager
def _without_mkldnn():
    """While tracing: with mkldnn on, the LSTM decomposition traces the fused aten.mkldnn_rnn_layer instead of its
    cell's ops. (torch.backends.mkldnn.flags would also set TF32 options, and warn about them.)"""
    enabled = torch._C._get_mkldnn_enabled()
    torch._C._set_mkldnn_enabled(False)
    try:
        yield
    finally:
        torch._C._set_mkldnn_enabled(enabled)


def _partial(gm: torch.fx.GraphModule, error: UnsupportedOpError, state: ModelState, target, options: dict,
             compile_graph: Callable) -> Callable:
    """The graph with its supported regions compiled and the rest in eager, on the host; in eager whole where a
    region cannot run alone: on firmware (a device cannot call PyTorch), and for int8 (the calibration data is
    the model's inputs, not a region's)."""
    why = ("a firmware target cannot call PyTorch between compiled regions" if not target.settings.in_process else
           "int8 calibration data describes the model's inputs, not a region's" if options.get("quantize") else "")
    if why:
        _warn_eager(f"edgelower cannot compile this graph for {target.name}, so all of it runs in eager PyTorch "
                    f"({why}): {error.listing}")
        return make_boxed_func(gm.forward)
    regions, eager = compile_regions(gm, state, {item.node for item in error.items}, compile_graph)
    if regions:
        _warn_eager(f"edgelower compiled {regions} region(s) of this graph; these ops run in eager PyTorch between "
                    f"them:\n{eager_summary(eager)}")
    else:
        _warn_eager(f"edgelower cannot compile any region of this graph, so it runs in eager PyTorch: "
                    f"{error.listing}")
    return make_boxed_func(gm.forward)


def _warn_eager(message: str) -> None:
    warnings.warn(message, stacklevel=3)


def _model_state(gm: torch.fx.GraphModule, example_inputs: Sequence[Any]):
    """Which inputs of the aot graph are model state, named as in the model. aot_autograd puts the parameters and
    buffers `gm` owns first, then dynamo's graph inputs, among which dynamo's lifted parameters and buffers carry a
    source reached through an nn.Module (`L['self']._modules['fc']._parameters['weight']`).
    Returns (how many `gm` owns, {aot position: (name, tensor)} for state, {aot position: name} for the rest)."""
    owned = {**dict(gm.named_parameters(remove_duplicate=False)), **dict(gm.named_buffers(remove_duplicate=False))}
    weights = {i: (name, tensor) for i, (name, tensor) in enumerate(owned.items())}
    names = {}
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    for i, (node, example) in enumerate(zip(placeholders, example_inputs)):
        source = getattr(node.meta.get("grapharg"), "source", None)
        name = _source_name(source) or node.name
        in_module = source is not None and (source.guard_source.is_unspecialized_nn_module()
                                            or source.guard_source.is_specialized_nn_module())
        if isinstance(example, torch.Tensor) and (in_module or isinstance(example, torch.nn.Parameter)):
            weights[len(owned) + i] = (name, example)
        else:
            names[len(owned) + i] = name
    return len(owned), weights, names


def _source_name(source: Any) -> str:
    """'fc.weight' for L['self']._modules['fc']._parameters['weight'], 'x' for L['x']."""
    keys = re.findall(r"\['([^']*)'\]", getattr(source, "name", "") or "")
    return ".".join(keys[1:] if len(keys) > 1 else keys)


def _runner(compiled: Any, runtime: list[int]) -> Callable:
    """The boxed callable aot_autograd expects: all its inputs in, the list of outputs back, as torch tensors."""
    def run(args: list) -> list[torch.Tensor]:
        arrays = [args[i].detach().cpu().numpy() for i in runtime]
        args.clear()
        return [torch.from_numpy(np.require(out, requirements="W")) for out in compiled.run_numpy(arrays)]

    run._boxed_call = True
    return run
