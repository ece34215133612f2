"""Choose patch-based inference automatically: the split point and grid of `tile_patches`, from planned arenas.

Pre: a well-formed graph, after its pipeline's other passes.
Post: the configuration PatchOptions resolve to (`resolve_patches`), which passes/plan_schedule.py applies.

Candidates: every split point (`split_points`) with a square grid g x g, g = 2..8 and at most the split value's
height and width. A candidate's cost is the arena of its planned schedule, made exactly as the driver makes it:
`reorder_nodes` on the unpatched graph, `tile_patches` (which keeps that order and emits the tiles one after the
other, as MCUNetV2 runs them), then `schedule_graph(..., patched_memory(features))`: linearize, alias_buffers and the default
planner, without reordering the hundreds of tile nodes again (reorder_nodes' search takes 10 to 60 s on an 8x8
patched MobileNet stem; on mbv2-w0.35-r64's patched graphs it lowered the arena by 0.9% at most). Its overhead
is the MACs it recomputes in the halos: the sum over tiles of every stage node's computed area times its MACs per
output pixel, less the stage's own MACs, which is exactly what the compiled report shows (`Report.recompute_macs`).

The rule:
- with a budget, the candidate that fits it with the fewest recomputed MACs (ties: the smaller arena); None when
  the unpatched arena already fits, or when nothing does;
- without one, the smallest arena among candidates that recompute at most `max_recompute` (default 10%: the
  overhead MCUNetV2, arXiv:2110.15352, keeps small, taken as a bound) of the model's MACs (ties: fewer recomputed
  MACs); None when no such candidate beats the unpatched arena.

Search: planning every candidate costs seconds on large models, so each first gets a lower bound on its arena, valid
for the emitted order: the schedule after the split is the unpatched one (same nodes, same order, same live
values), so the arena is at least the unpatched live peak after the split; the last CONCAT holds the split value
twice (its tiles and itself); and while a tile other than the last runs, the stage inputs, the finished tiles and
each of its nodes' outputs are live, distinct storages. Candidates are planned in order of that bound (or of
recomputed MACs, with a budget) and the search stops when no unplanned candidate can win, so it returns what
planning all of them would (tests/test_tile_patches.py checks it against exactly that).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from edgelower.errors import MemoryBudgetError
from edgelower.ir.graph import Graph, Op
from edgelower.passes.memory.reorder_nodes import reorder_nodes
from edgelower.passes.memory.features import READ_BEFORE_WRITE, MemoryFeatures
from edgelower.passes.memory.schedule_graph import MemoryOptions, schedule_graph
from edgelower.passes.patches.tile_patches import PatchError, receptive_field, split_stages, tile_patches, tile_regions
from edgelower.report import node_macs
from edgelower.ir.schedule import Schedule



def patched_memory(features: MemoryFeatures) -> MemoryOptions:
    """A patched graph is scheduled in the order tile_patches emits."""
    return MemoryOptions(reorder=False, features=features)

GRIDS = tuple((g, g) for g in range(2, 9))
MAX_RECOMPUTE = 0.10

Grid = tuple[int, int]


@dataclass(frozen=True)
class PatchOptions:
    """What `resolve_patches` decides. patches: None, never patch; "auto", patch when the unpatched arena exceeds
    `budget` (bytes); (split, (rows, cols)), exactly that. `strict` ("auto"): raise MemoryBudgetError when not even
    patching fits the budget (False: leave the graph as it is, for a later check to report)."""

    patches: Any = None
    budget: int | None = None
    strict: bool = True
    features: MemoryFeatures = READ_BEFORE_WRITE   # the backend's, so that candidates are planned as it will


@dataclass(frozen=True)
class PatchPlan:
    """A planned candidate; split "" and grid (1, 1) stand for the unpatched graph."""

    split: str
    grid: Grid
    arena_bytes: int
    recompute_macs: int
    macs: int           # the unpatched model's MACs
    peak_text: str      # where the planned schedule peaks, for messages
    unpatched_arena_bytes: int

    @property
    def choice(self) -> tuple[str, Grid] | None:
        return (self.split, self.grid) if self.split else None

    @property
    def overhead(self) -> float:
        return self.recompute_macs / self.macs if self.macs else 0.0

    def __str__(self) -> str:
        if not self.split:
            return f"unpatched: arena {self.arena_bytes:,} bytes, peak at {self.peak_text}"
        return (f"split at %{self.split}, {self.grid[0]}x{self.grid[1]} patches: arena {self.arena_bytes:,} bytes, "
                f"{self.recompute_macs:,} MACs recomputed (+{100 * self.overhead:.1f}%), peak at {self.peak_text}")


def _area(region) -> int:
    (r0, r1), (c0, c1) = region
    return (r1 - r0) * (c1 - c0)


def _peak_text(schedule: Schedule) -> str:
    step = schedule.peak_step
    if not 0 <= step < len(schedule.kernels):
        return "the graph inputs"
    node = schedule.kernels[step].node
    return f"node {node.name} ({node.op.name})"


class _Search:
    """The unpatched graph (reordered), its plan, and per split point the bound and the MACs of the stage."""

    def __init__(self, graph: Graph, features: MemoryFeatures):
        self.graph = reorder_nodes(graph, features)
        self.memory = patched_memory(features)
        base = schedule_graph(self.graph, self.memory)
        self.per_pixel, self.pixel_bytes = [], []  # per node: MACs and output bytes per output pixel
        for node in self.graph.nodes:
            out = self.graph.types[node.output]
            pixels = math.prod(out.shape[2:]) if len(out.shape) == 4 else 1
            self.per_pixel.append(node_macs(node, base.graph.types) // pixels)
            self.pixel_bytes.append(out.nbytes // pixels)
        self.macs = sum(node_macs(node, base.graph.types) for node in self.graph.nodes)
        self.unpatched = PatchPlan("", (1, 1), base.arena_bytes, 0, self.macs, _peak_text(base), base.arena_bytes)
        profile = base.live_profile()  # entry i is step i - 1
        step = {node.output: i for i, node in enumerate(self.graph.nodes)}
        self.stages = {v: sorted(s) for v, s in split_stages(self.graph).items()}
        self.after = {v: max(profile[step[v] + 2:]) for v in self.stages}
        self.planned: dict[tuple[str, Grid], PatchPlan] = {}
        self.analyzed: dict[tuple[str, Grid], tuple[float, int]] = {}

    def candidates(self) -> list[tuple[str, Grid]]:
        out = []
        for split in self.stages:
            h, w = self.graph.types[split].shape[2:]
            out.extend((split, g) for g in GRIDS if g[0] <= h and g[1] <= w)
        return out

    def bound(self, split: str, grid: Grid) -> int:
        """A lower bound on the candidate's arena (see the module docstring)."""
        return max(self.after[split], 2 * self.graph.types[split].nbytes, self._analyze(split, grid)[1])

    def recompute(self, split: str, grid: Grid) -> float:
        """MACs the candidate recomputes; inf when its tiles cannot be computed (tile_patches._grow)."""
        return self._analyze(split, grid)[0]

    def _analyze(self, split: str, grid: Grid) -> tuple[float, int]:
        """(recomputed MACs, live bytes some tile surely reaches): while a tile that is not the last runs, the
        stage inputs, the tiles before it and the output of each of its nodes are live, all distinct storages."""
        if (split, grid) in self.analyzed:
            return self.analyzed[split, grid]
        stage, types, nodes = self.stages[split], self.graph.types, self.graph.nodes
        inputs = sum(types[x].nbytes for x in self.graph.inputs
                     if any(x in nodes[i].inputs for i in stage))
        v = types[split]
        tiles = [tile for row in tile_regions(v.shape[2:], grid) for tile in row]
        whole = sum(self.per_pixel[i] * math.prod(types[nodes[i].output].shape[2:]) for i in stage)
        tiled = done = reached = 0
        try:
            for k, tile in enumerate(tiles):
                field = receptive_field(self.graph, stage, split, tile)
                tiled += sum(self.per_pixel[i] * _area(region) for i, region in field.compute.items())
                # A SLICE of channels may be a view of its input: its bytes are not surely new.
                work = max((self.pixel_bytes[i] * _area(region) for i, region in field.compute.items()
                            if nodes[i].op is not Op.SLICE), default=0)
                reached = max(reached, (inputs if k < len(tiles) - 1 else 0) + done + work)
                done += v.nbytes // math.prod(v.shape[2:]) * _area(tile)
            result = (tiled - whole, reached)
        except PatchError:
            result = (math.inf, 0)
        self.analyzed[split, grid] = result
        return result

    def plan(self, split: str, grid: Grid) -> PatchPlan:
        if (split, grid) not in self.planned:
            schedule = schedule_graph(tile_patches(self.graph, split, grid), self.memory)
            self.planned[split, grid] = PatchPlan(split, grid, schedule.arena_bytes, int(self.recompute(split, grid)),
                                                  self.macs, _peak_text(schedule), self.unpatched.arena_bytes)
        return self.planned[split, grid]

    def smallest(self, max_recompute: float = math.inf) -> PatchPlan:
        """The smallest arena (ties: fewer recomputed MACs) among the unpatched graph and the candidates within
        `max_recompute`."""
        best = self.unpatched
        for split, grid in sorted(self.candidates(), key=lambda c: (self.bound(*c), c[1], c[0])):
            if self.bound(split, grid) > best.arena_bytes:
                break
            if not self.recompute(split, grid) <= max_recompute * self.macs:
                continue
            plan = self.plan(split, grid)
            if (plan.arena_bytes, plan.recompute_macs) < (best.arena_bytes, best.recompute_macs):
                best = plan
        return best

    def cheapest_fit(self, budget: int) -> PatchPlan | None:
        """The fewest recomputed MACs (ties: smaller arena) among candidates whose arena fits `budget`."""
        if self.unpatched.arena_bytes <= budget:
            return self.unpatched
        fitting = [c for c in self.candidates() if self.bound(*c) <= budget and self.recompute(*c) < math.inf]
        best = None
        for split, grid in sorted(fitting, key=lambda c: (self.recompute(*c), self.bound(*c), c[1], c[0])):
            if best is not None and self.recompute(split, grid) > best.recompute_macs:
                break
            plan = self.plan(split, grid)
            if plan.arena_bytes <= budget and (best is None or plan.arena_bytes < best.arena_bytes):
                best = plan
        return best


def choose_patches(graph: Graph, budget_bytes: int | None = None, max_recompute: float = MAX_RECOMPUTE,
                   features: MemoryFeatures = READ_BEFORE_WRITE) -> tuple[str, Grid] | None:
    """(split, grid) for `tile_patches` by the rule in the module docstring, or None: do not patch."""
    plan = plan_patches(graph, budget_bytes, max_recompute, features)
    return plan.choice if plan is not None else None


def plan_patches(graph: Graph, budget_bytes: int | None = None, max_recompute: float = MAX_RECOMPUTE,
                 features: MemoryFeatures = READ_BEFORE_WRITE) -> PatchPlan | None:
    """The plan `choose_patches` picks (the unpatched plan when that is the choice); None when a budget is given
    and nothing fits it."""
    search = _Search(graph, features)
    if budget_bytes is None:
        return search.smallest(max_recompute)
    return search.cheapest_fit(budget_bytes)


def best_patches(graph: Graph, features: MemoryFeatures = READ_BEFORE_WRITE) -> PatchPlan:
    """The smallest arena any candidate (or the unpatched graph) reaches, whatever it recomputes."""
    return _Search(graph, features).smallest()


def resolve_patches(graph: Graph, options: PatchOptions, arena_bytes: int | None = None) -> tuple[str, Grid] | None:
    """The configuration `options` asks for on this (unpatched) graph, whose planned arena is `arena_bytes` if the
    caller has it. With "auto" and a budget the unpatched arena exceeds: the cheapest fitting candidate; when none
    fits, MemoryBudgetError (strict) or None."""
    patches = options.patches
    if patches is None or (patches == "auto" and options.budget is None):
        return None
    if patches != "auto":
        split, grid = patches
        return split, tuple(grid)
    if arena_bytes is not None and arena_bytes <= options.budget:
        return None
    search = _Search(graph, options.features)
    plan = search.cheapest_fit(options.budget)
    if plan is not None:
        return plan.choice
    if not options.strict:
        return None
    best = search.smallest()
    if best.choice is not None:
        found = f"the best patch-based inference found, {best}, is still over by"
    elif search.stages:
        found = "no patch-based inference lowers its arena, so it stays over by"
    else:
        found = ("no stage of it can be patched (that needs a first stage of convolutions, pools and elementwise "
                 "ops), so it stays over by")
    raise MemoryBudgetError(
        f"the model needs an arena of {search.unpatched.arena_bytes:,} bytes unpatched (peak at "
        f"{search.unpatched.peak_text}) but the memory budget is {options.budget:,}; {found} "
        f"{best.arena_bytes - options.budget:,} bytes. Nothing was written.")
