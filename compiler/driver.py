"""The ahead-of-time driver: capture -> PIPELINES[what the target's backend needs] -> (for backends that render a
Schedule) the planning step, patched when the memory budget asks for it -> the backend's emit -> the artifact's
build -> CompiledModel."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable

import numpy as np

from edgelower.errors import CalibrationError, MemoryBudgetError
from edgelower.ir.graph import Graph
from edgelower.stages import StageClock
from edgelower.targets import get_target


@dataclass(frozen=True)
class Options:
    """Every knob a compilation takes; frozen and handed down explicitly."""

    prefix: str = "model"   # C identifier prefix of the generated API
    verify: bool = False    # run the verifier after every pass (always on under EDGELOWER_DEBUG)
    observer: str = "minmax"  # quantize="int8": calibration observer, "minmax", "percentile" or "mse"
    int_only: bool = True   # quantize="int8": every op on int8 (False: ops without one stay float, needs an FPU)
    # Patch-based inference (passes/patches/tile_patches.py): "auto" patches when the unpatched arena exceeds memory_budget
    # (or the target's SRAM), None never, (split value, (rows, cols)) exactly that configuration.
    patches: Any = "auto"


def _options(options: dict[str, Any], backend_options: type | None = None) -> tuple[Options, Any]:
    """The driver's Options and the backend's own options value (None when it declares none) from `**options`."""
    known = set(Options.__dataclass_fields__)
    own = set(backend_options.__dataclass_fields__) if backend_options is not None else set()
    unknown = set(options) - known - own
    if unknown:
        raise TypeError(f"unknown compile option(s) {sorted(unknown)}; known: {sorted(known | own)}")
    patches = options.get("patches", "auto")
    if patches not in ("auto", None):
        try:
            split, (rows, cols) = patches
            options = {**options, "patches": (str(split), (int(rows), int(cols)))}
        except (TypeError, ValueError):
            raise ValueError(f"patches={patches!r}; valid: 'auto', None or (split value name, (rows, cols))") from None
    mine = Options(**{k: v for k, v in options.items() if k in known})
    theirs = backend_options(**{k: v for k, v in options.items() if k in own}) if backend_options else None
    return mine, theirs


def _example_tuple(example_inputs) -> tuple:
    import torch

    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,)
    example_inputs = tuple(example_inputs)
    for i, x in enumerate(example_inputs):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"example_inputs[{i}] is a {type(x).__name__}; edgelower captures tensor inputs only")
    return example_inputs


def compile(model, example_inputs, target: str = "host", quantize: str | None = None,
            calibration: Iterable | None = None, memory_budget: int | str | None = None,
            on_stage: Callable[[str], None] | None = None, **options):
    """Compile an nn.Module for `target`; returns a CompiledModel (callable, `.report`, `.save(dir)`)."""
    from edgelower.backends import BACKENDS
    from edgelower.frontend.capture import capture_module

    clock = StageClock(on_stage)
    # Everything that can be checked without the model fails here, before the (slow) capture.
    _options(options, BACKENDS[get_target(target).backend].options_type)
    _check_quantize(quantize, calibration)
    memory_budget = memory_budget_bytes(memory_budget)
    clock.start("capture", "capture (torch.export)")
    graph = capture_module(model, _example_tuple(example_inputs))
    return compile_graph(graph, target, quantize=quantize, calibration=calibration, memory_budget=memory_budget,
                         _clock=clock, **options)


_BYTE_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "KIB": 1024, "M": 1024 ** 2, "MB": 1024 ** 2,
               "MIB": 1024 ** 2}


def memory_budget_bytes(budget: int | str | None) -> int | None:
    """memory_budget as a positive number of bytes: an int, or a string such as "200000", "256K", "1M" or
    "1.5MiB" (K and M are 1024 and 1024^2, as boards count SRAM)."""
    if budget is None:
        return None
    value = None
    if isinstance(budget, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", budget)
        if match and match[2].upper() in _BYTE_UNITS:
            value = float(match[1]) * _BYTE_UNITS[match[2].upper()]
            value = int(value) if value.is_integer() else None
    elif isinstance(budget, (int, np.integer)) and not isinstance(budget, bool):
        value = int(budget)
    if value is None or value <= 0:
        raise ValueError(f"memory_budget={budget!r}; give a positive number of bytes: an int such as 200000, or a "
                         "string such as '256K' or '1M' (K = 1024 bytes, M = 1024 K)")
    return value


def _check_quantize(quantize, calibration) -> None:
    if quantize not in (None, "int8"):
        raise ValueError(f"quantize={quantize!r}; valid: None (float32) or 'int8'")
    if calibration is not None and quantize != "int8":
        raise ValueError("calibration data is only used with quantize='int8'")


def _calibration_samples(calibration: Iterable | None, graph: Graph) -> tuple[tuple[np.ndarray, ...], ...]:
    """Each calibration item as a tuple of arrays: an item is a tensor (a one-input model) or a tuple/list of
    tensors or arrays, in the order of the model's inputs. A single tensor or array (one-input model) holds the
    samples along its first dimension. Shapes and dtypes are checked by `quantize`."""
    if hasattr(calibration, "shape"):
        calibration = _stacked_samples(calibration, graph)
    samples = []
    for i, item in enumerate(calibration if calibration is not None else ()):
        parts = (item,) if hasattr(item, "shape") else item
        if not isinstance(parts, (tuple, list)):
            raise CalibrationError(f"calibration sample {i} is a {type(item).__name__}; give a tensor (one-input "
                                   "model) or a tuple of tensors, one per model input")
        arrays = []
        for j, x in enumerate(parts):
            if not hasattr(x, "shape"):
                raise CalibrationError(f"calibration sample {i}, input {j} is a {type(x).__name__}, not a tensor")
            arrays.append(np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x))
        samples.append(tuple(arrays))
    return tuple(samples)


def _stacked_samples(stack, graph: Graph) -> list:
    """The samples of one tensor stacked along its first dimension: [N, *input shape], or [N, *input shape
    without its leading 1] (a batch of N, one sample per row), as the CLI's --calibration .npy files are."""
    if len(graph.inputs) != 1:
        raise CalibrationError(f"calibration is one tensor, but the model takes {len(graph.inputs)} inputs: give "
                               "a list of tuples, one tensor per input in each")
    shape, got = graph.types[graph.inputs[0]].shape, tuple(stack.shape)
    if got[1:] == shape:
        return [stack[i] for i in range(got[0])]
    if shape[:1] == (1,) and got[1:] == shape[1:]:
        return [stack[i:i + 1] for i in range(got[0])]
    raise CalibrationError(f"calibration tensor of shape {list(got)}: a tensor holds the samples along its first "
                           f"dimension, so for an input of shape {list(shape)} give [N, {', '.join(map(str, shape))}]"
                           " (or a list of tensors, one per sample)")


def compile_graph(graph: Graph, target: str = "host", quantize: str | None = None, calibration=None,
                  memory_budget: int | str | None = None, on_stage: Callable[[str], None] | None = None,
                  _clock: StageClock | None = None, **options):
    """Compile an already captured Graph (the torch.compile backend enters here). Rendering and building are
    skipped when the same planned model was compiled before (edgelower.compile_cache)."""
    from edgelower.backends import BACKENDS
    from edgelower.backends.protocol import EmitRequest
    from edgelower.compile_cache import emit_cached
    from edgelower.compiled import CompiledModel
    from edgelower.passes import PIPELINES, pipeline_key, run_pipeline
    from edgelower.passes.integer.lower_integer import LowerIntegerOptions
    from edgelower.passes.integer.quantize import QuantizeOptions
    from edgelower.report import Report

    clock = _clock or StageClock(on_stage)
    tgt = get_target(target)
    backend = BACKENDS[tgt.backend]
    opts, backend_options = _options(options, backend.options_type)
    _check_quantize(quantize, calibration)
    memory_budget = memory_budget_bytes(memory_budget)
    clock.start("passes", "passes" if quantize is None else "passes (calibrating on the interpreter, then integer "
                                                              "lowering)")
    pass_options = (QuantizeOptions(_calibration_samples(calibration, graph), observer=opts.observer),
                    LowerIntegerOptions(int_only=opts.int_only))
    graph = run_pipeline(graph, PIPELINES[pipeline_key(quantize, backend.integer_form)], options=pass_options,
                         verify=opts.verify or None)
    backend.check(graph, tgt.name)
    schedule = None
    if backend.consumes == "schedule":
        clock.start("plan", "schedule and memory plan")
        report, schedule = _plan(graph, tgt, backend, opts, memory_budget)
        graph = schedule.graph
    else:
        report = Report.from_graph(graph, tgt.name)
    clock.start("render", f"render ({backend.name} backend)")
    artifact, cached = emit_cached(backend, EmitRequest(graph, schedule, tgt, opts.prefix, backend_options))
    model = CompiledModel(artifact, report, tgt, graph, schedule)
    size = sum(len(data) for data in artifact.files.values())
    clock.start("build", f"build ({len(artifact.files)} files, {size / 1e6:.1f} MB{', cached' if cached else ''})")
    model.build()
    clock.stop()
    model.report = replace(model.report, compile_seconds=clock.elapsed, stage_seconds=clock.table(),
                           cached=cached)  # build adds ELF sizes
    return model


def _plan(graph: Graph, tgt, backend, opts: Options, memory_budget: int | None):
    """The planning step: the Schedule (patched when the budget asks for it) and its Report; an explicit budget
    that the plan exceeds fails here, before anything is written."""
    from edgelower.passes.plan_schedule import PlanOptions, plan_schedule
    from edgelower.report import Report

    budget = memory_budget if memory_budget is not None else tgt.sram_bytes
    # Only an explicit memory_budget fails here; over the target's SRAM, the board's own check reports the sizes.
    planned = plan_schedule(graph, PlanOptions(backend.memory, opts.patches, budget, strict=memory_budget is not None,
                                               verify=opts.verify))
    schedule, label = planned.schedule, planned.label
    report = Report.from_schedule(schedule, tgt.name, unpatched=None if planned.choice is None else planned.unpatched,
                                  patches=label, compile_seconds=0.0)
    if memory_budget is not None and schedule.arena_bytes > memory_budget:
        raise MemoryBudgetError(
            f"the model needs an arena of {schedule.arena_bytes:,} bytes{' with ' + label if label else ''} but "
            f"memory_budget is {memory_budget:,} (over by {schedule.arena_bytes - memory_budget:,}); the peak is at "
            f"{report.peak_text}. Nothing was written.")
    return report, schedule
