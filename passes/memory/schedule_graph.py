"""The memory half of compilation: a graph becomes a planned Schedule.

Pre: a well-formed graph, after the graph passes of its pipeline.
Post: a Schedule whose kernels run the graph's nodes in an order chosen for a low peak, whose buffers share bytes
where the backend can express it (views, in place), and whose storages all have arena offsets.

    reorder_nodes -> linearize -> alias_buffers -> plan_memory

Each step is optional through `MemoryOptions`, so that bench/bench_memory.py can show what each one is worth.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgelower.ir.graph import Graph
from edgelower.passes.memory.alias_buffers import alias_buffers
from edgelower.passes.memory.features import READ_BEFORE_WRITE, MemoryFeatures
from edgelower.passes.memory.plan_memory import Planner, plan_memory, search_offsets
from edgelower.passes.memory.reorder_nodes import reorder_nodes
from edgelower.ir.schedule import Schedule, linearize
from edgelower.ir.verifier import verify as verify_graph


@dataclass(frozen=True)
class MemoryOptions:
    reorder: bool = True                            # choose the node order for the lowest peak
    features: MemoryFeatures = READ_BEFORE_WRITE    # what the backend's kernels can share, and its alignment
    planner: Planner = search_offsets               # or plan_memory.greedy_by_size, the baseline


def schedule_graph(graph: Graph, options: MemoryOptions = MemoryOptions(), verify: bool = False) -> Schedule:
    """The planned Schedule of `graph`. With `verify`, the reordered graph goes through the verifier."""
    if options.reorder:
        graph = reorder_nodes(graph, options.features)
        if verify:
            verify_graph(graph, after="reorder_nodes")
    schedule = linearize(graph)
    if options.features.views or options.features.in_place:
        schedule = alias_buffers(schedule, options.features)
    return plan_memory(schedule, options.planner, options.features.alignment)
