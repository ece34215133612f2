"""The ahead-of-time driver: capture -> PIPELINES[kind] -> schedule -> plan_memory -> backend -> build."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from edgelower.errors import EdgelowerError, MemoryBudgetError
from edgelower.ir import Graph
from edgelower.targets import get_target


@dataclass(frozen=True)
class Options:
    """Every knob a compilation takes; frozen and handed down explicitly."""

    prefix: str = "model"   # C identifier prefix of the generated API
    verify: bool = False    # run the verifier after every pass (always on under EDGELOWER_DEBUG)


def _options(options: dict[str, Any]) -> Options:
    known = set(Options.__dataclass_fields__)
    unknown = set(options) - known
    if unknown:
        raise TypeError(f"unknown compile option(s) {sorted(unknown)}; known: {sorted(known)}")
    return Options(**options)


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
            calibration: Iterable | None = None, memory_budget: int | None = None,
            on_stage: Callable[[str], None] | None = None, **options):
    """Compile an nn.Module for `target`; returns a CompiledModel (callable, `.report`, `.save(dir)`)."""
    from edgelower.capture import capture_module

    stage = on_stage or (lambda _: None)
    started = time.perf_counter()
    get_target(target)  # an unknown target fails before the (slow) capture
    _check_quantize(quantize, calibration)
    stage("capture (torch.export)")
    graph = capture_module(model, _example_tuple(example_inputs))
    return compile_graph(graph, target, quantize=quantize, calibration=calibration, memory_budget=memory_budget,
                         on_stage=on_stage, _started=started, **options)


def _check_quantize(quantize, calibration) -> None:
    if quantize not in (None, "int8"):
        raise ValueError(f"quantize={quantize!r}; valid: None (float32) or 'int8'")
    if quantize == "int8":
        raise EdgelowerError("quantize='int8' needs the integer-only lowering, which this version does not have "
                             "yet; compile in float32 (quantize=None)")
    if calibration is not None:
        raise ValueError("calibration data is only used with quantize='int8'")


def compile_graph(graph: Graph, target: str = "host", quantize: str | None = None, calibration=None,
                  memory_budget: int | None = None, on_stage: Callable[[str], None] | None = None,
                  _started: float | None = None, **options):
    """Compile an already captured Graph (the torch.compile backend enters here)."""
    from edgelower.backends import BACKENDS
    from edgelower.compiled import CompiledModel
    from edgelower.passes import PIPELINES, run_pipeline
    from edgelower.passes.plan_memory import plan_memory
    from edgelower.report import Report
    from edgelower.schedule import linearize

    stage = on_stage or (lambda _: None)
    started = time.perf_counter() if _started is None else _started
    tgt, opts = get_target(target), _options(options)
    _check_quantize(quantize, calibration)
    stage("passes")
    graph = run_pipeline(graph, PIPELINES["float"], verify=opts.verify or None)
    stage("schedule and memory plan")
    schedule = plan_memory(linearize(graph))
    if memory_budget is not None and schedule.arena_bytes > memory_budget:
        worst = max(range(len(schedule.kernels)), key=lambda s: sum(b.nbytes for b in schedule.live_at(s)))
        raise MemoryBudgetError(
            f"the model needs an arena of {schedule.arena_bytes:,} bytes but memory_budget is {memory_budget:,} "
            f"(over by {schedule.arena_bytes - memory_budget:,}); the peak is at node "
            f"{schedule.kernels[worst].node.name} ({schedule.kernels[worst].node.op.name}). Nothing was written.")
    stage(f"render ({tgt.backend} backend)")
    files = BACKENDS[tgt.backend](schedule, opts.prefix)
    report = Report.from_schedule(schedule, tgt.name, compile_seconds=0.0)
    model = CompiledModel.from_schedule(schedule, files, report, tgt, opts.prefix)
    stage("build")
    model.build()
    model.report = Report(**{**report.__dict__, "compile_seconds": time.perf_counter() - started})
    return model
