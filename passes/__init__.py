"""Passes: Graph -> Graph (or Schedule -> Schedule) functions, and PIPELINES, the ordered list per target kind."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Union

from edgelower.ir.graph import Graph
from edgelower.passes.canonicalize import canonicalize
from edgelower.passes.fold_batchnorm import fold_batchnorm
from edgelower.passes.fuse import fuse
from edgelower.passes.integer.decompose_integer import lower_to_primitives
from edgelower.passes.integer.lower_integer import LowerIntegerOptions, check_integer, lower_integer
from edgelower.passes.integer.quantize import QuantizeOptions, quantize
from edgelower.ir.verifier import verify as verify_graph

Pass = Callable[[Graph], Graph]


@dataclass(frozen=True)
class Configured:
    """A pipeline step that takes a frozen options value besides the graph: `fn(graph, options)`, where options is
    the value of type `options_type` handed to `run_pipeline` (its defaults when none is). This is how a pass that
    needs data fits the pipeline: `quantize`'s calibration samples are a field of its QuantizeOptions."""

    fn: Callable[[Graph, Any], Graph]
    options_type: type

    @property
    def __name__(self) -> str:
        return self.fn.__name__

    def __call__(self, graph: Graph, options: Any = None) -> Graph:
        """With its options value, or with the defaults: a Configured step is a Graph -> Graph pass too."""
        return self.fn(graph, self.options_type() if options is None else options)


Step = Union[Pass, Configured]

# Calibrate on the folded float graph (what runs is what is observed), lower, then check the integer-only contract
# (int_only=False: the plain verifier) before the integer graph is fused.
_INT8 = (canonicalize, fold_batchnorm, canonicalize, Configured(quantize, QuantizeOptions),
         Configured(lower_integer, LowerIntegerOptions), Configured(check_integer, LowerIntegerOptions), fuse)

# The one ordered list of graph passes per kind of target, keyed by what the target's backend needs: float32, int8
# lowered to the `q` records that fused kernels read ("int8"), or int8 as primitive integer ops that a backend
# without integer kernels of its own expresses exactly ("int8-primitives"). Targets whose backend renders a
# Schedule then go through the planning step (passes/plan_schedule.py: memory plan, and patch-based inference when
# the memory budget asks for it).
PIPELINES: dict[str, tuple[Step, ...]] = {
    # canonicalize again after folding: BATCH_NORM lowered to MUL + ADD may leave x * 1 + 0 and dead weights.
    # fuse after the rewrites: conv -> BN -> relu fuses only once BN is folded, and no-ops removed between conv and
    # relu.
    "float": (canonicalize, fold_batchnorm, canonicalize, fuse),
    "int8": _INT8,
    # Every record written as its program of primitive ops (passes/integer/decompose_integer.py); decomposing the
    # fused record form gives the bytes of the unfused one.
    "int8-primitives": _INT8 + (lower_to_primitives,),
}


def pipeline_key(quantize: str | None, integer_form: str) -> str:
    """The PIPELINES entry for a quantize mode (None or "int8") and the backend's integer form."""
    if quantize is None:
        return "float"
    return "int8" if integer_form == "records" else f"int8-{integer_form}"


def run_pipeline(graph: Graph, passes: Iterable[Step], *, options: Iterable[Any] = (),
                 verify: bool | None = None) -> Graph:
    """Run `passes` in order; a Configured step gets the value in `options` of its options type. With `verify`
    (None: when EDGELOWER_DEBUG is set) the verifier checks the input and the result of every pass, naming the
    pass that broke the IR. EDGELOWER_DEBUG=1 prints the IR after each pass to stderr."""
    debug = os.environ.get("EDGELOWER_DEBUG", "0") not in ("", "0")
    by_type = {type(o): o for o in options}
    if verify is None:
        verify = debug
    if verify:
        verify_graph(graph)
    for step in passes:
        graph = step(graph, by_type.get(step.options_type)) if isinstance(step, Configured) else step(graph)
        if debug:  # before verifying, so that a broken graph is on screen too
            print(f"--- after {step.__name__} ---\n{graph}", file=sys.stderr)
        if verify:
            verify_graph(graph, after=step.__name__)
    return graph
