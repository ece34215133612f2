"""The planning step of targets whose backend renders a Schedule: the graph becomes a planned Schedule, patched when
the memory budget asks for it.

Pre: a graph after its pipeline's graph passes.
Post: a Schedule with every storage placed (aligned as the backend declares), for the patched graph when patches
were chosen; the unpatched Schedule is kept beside it for the report.

The patch decision is part of planning, not of the pipeline: whether to patch depends on the planned arena of the
unpatched graph, planned with the backend's own memory features (passes/patches/choose_patches.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgelower.ir.graph import Graph
from edgelower.ir.schedule import Schedule
from edgelower.ir.verifier import verify as verify_graph
from edgelower.passes.memory.features import MemoryFeatures
from edgelower.passes.memory.reorder_nodes import reorder_nodes
from edgelower.passes.memory.schedule_graph import MemoryOptions, schedule_graph
from edgelower.passes.patches.choose_patches import PatchOptions, patched_memory, resolve_patches
from edgelower.passes.patches.tile_patches import tile_patches


@dataclass(frozen=True)
class PlanOptions:
    """features: the backend's; patches: "auto", None or (split value, (rows, cols)); budget: bytes of arena to
    fit ("auto" patches only above it); strict: an explicit budget that nothing fits raises MemoryBudgetError."""

    features: MemoryFeatures
    patches: Any = "auto"
    budget: int | None = None
    strict: bool = False
    verify: bool = False


@dataclass(frozen=True)
class PlannedSchedule:
    schedule: Schedule
    unpatched: Schedule
    choice: tuple[str, tuple[int, int]] | None = None

    @property
    def label(self) -> str:
        """How it was patched, for the report ("" when it was not)."""
        if self.choice is None:
            return ""
        split, (rows, cols) = self.choice
        return f"split at %{split}, {rows}x{cols} patches"


def plan_schedule(graph: Graph, options: PlanOptions) -> PlannedSchedule:
    base = schedule_graph(graph, MemoryOptions(features=options.features), verify=options.verify)
    patch_options = PatchOptions(options.patches, options.budget, options.strict, options.features)
    choice = resolve_patches(graph, patch_options, base.arena_bytes)
    if choice is None:
        return PlannedSchedule(base, base)
    patched = tile_patches(reorder_nodes(graph, options.features), *choice)
    if options.verify:
        verify_graph(patched, after="tile_patches")
    return PlannedSchedule(schedule_graph(patched, patched_memory(options.features), verify=options.verify), base,
                           choice)
