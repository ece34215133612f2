"""Assign every storage an offset in one static arena.

Pre: a Schedule with lifetimes (aliases optional, see passes/memory/alias_buffers.py), no offsets.
Post: every arena buffer has an offset: its root's, aligned to the backend's alignment, plus its `alias_offset`; no two storages live
at the same step share a byte; `arena_bytes` is the end of the highest storage.

A planner maps storages (`Schedule.storages()`: one Buffer per storage, lifetime widened over its aliases) to
offsets. This is dynamic storage allocation, NP-hard in general; two planners are here:
- `greedy_by_size`, the baseline: TFLite Micro's GreedyMemoryPlanner. Largest first, each at the lowest offset
  where it collides with no already placed storage live at the same time.
- `search_offsets`, the default: every ordering in `ORDERINGS` with first-fit and with best-fit placement (the
  first of them is greedy_by_size itself, so it is never worse), then, while the best arena is above the live-set
  lower bound and the instance is small, an exact branch and bound. Deterministic: the search is bounded by a
  node count, never by time, and every tie is broken by buffer order.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from edgelower.ir.schedule import Buffer, Schedule

# (storages, alignment in bytes) -> storage name -> offset
Planner = Callable[[Sequence[Buffer], int], "dict[str, int]"]

# Storage offsets are multiples of this unless the backend declares otherwise (MemoryFeatures.alignment): 16 bytes
# suit every dtype and the widest SIMD loads of the Cortex-M and host kernels.
DEFAULT_ALIGNMENT = 16
EXACT_MAX_STORAGES = 32   # branch and bound only on instances this small (after the heuristics)...
EXACT_NODE_BUDGET = 10_000  # ...and for at most this many search nodes (about 40 us each)


def align_up(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment


class PlacementProblem:
    """Storages with their time conflicts, indexed 0..n-1 in the order given."""

    def __init__(self, buffers: Sequence[Buffer], alignment: int = DEFAULT_ALIGNMENT):
        self.buffers = list(buffers)
        self.alignment = alignment
        self.size = [b.nbytes for b in self.buffers]
        n = len(self.buffers)
        first = np.array([b.first for b in self.buffers], dtype=np.int64)
        last = np.array([b.last for b in self.buffers], dtype=np.int64)
        # Two lifetimes conflict when each starts before the other ends (Buffer.overlaps_in_time), in ascending
        # index order; one numpy row per storage, where pairs of Python comparisons made plans of thousands of
        # storages take seconds.
        self.conflicts: list[list[int]] = []
        for i in range(n):
            row = (first <= last[i]) & (first[i] <= last)
            row[i] = False
            self.conflicts.append(np.flatnonzero(row).tolist())
        # Live sets only grow when a storage starts, so the steps where one starts are the ones to check.
        starts = np.unique(first)[:, None]
        self.live = (first <= starts) & (starts <= last) if n else np.zeros(0, dtype=bool)
        live_bytes = self.live @ np.array(self.size, dtype=np.int64)
        # Storages live together stack: each but the topmost takes its aligned size.
        self.aligned = np.array([self.align(s) for s in self.size], dtype=np.int64)
        self.slack = self.aligned - np.array(self.size, dtype=np.int64)
        top_slack = (self.live * self.slack).max(axis=1) if n else np.zeros(0, np.int64)
        self.lower_bound = int((self.live @ self.aligned - top_slack).max()) if n else 0
        # Per storage, the most bytes live at any step of its lifetime: storages at the peak get placed first.
        self.pressure = [int(live_bytes[self.live[:, i]].max()) for i in range(n)]

    def align(self, n: int) -> int:
        return align_up(n, self.alignment)

    def arena(self, offsets: Sequence[int]) -> int:
        return max((o + s for o, s in zip(offsets, self.size)), default=0)


def _place(inst: PlacementProblem, order: Sequence[int], best_fit: bool) -> list[int]:
    """Offsets from placing storages in `order`, each in the lowest (first fit) or tightest (best fit) gap between
    the already placed storages it conflicts with, or on top of them."""
    offsets: list[int | None] = [None] * len(inst.size)
    for i in order:
        spans = sorted((offsets[j], offsets[j] + inst.size[j]) for j in inst.conflicts[i] if offsets[j] is not None)
        cursor, chosen, tightest = 0, None, None
        for start, end in spans:
            gap = start - cursor
            if gap >= inst.size[i] and (tightest is None or gap < tightest):
                chosen, tightest = cursor, gap
                if not best_fit:
                    break
            cursor = max(cursor, inst.align(end))
        offsets[i] = cursor if chosen is None else chosen
    return offsets


def _offsets(inst: PlacementProblem, offsets: Sequence[int]) -> dict[str, int]:
    return {b.name: o for b, o in zip(inst.buffers, offsets)}


def greedy_by_size(buffers: Sequence[Buffer], alignment: int = DEFAULT_ALIGNMENT) -> dict[str, int]:
    """The baseline: largest first (ties: earlier start, then name), first fit."""
    inst = PlacementProblem(buffers, alignment)
    order = sorted(range(len(inst.size)), key=lambda i: (-inst.size[i], inst.buffers[i].first, inst.buffers[i].name))
    return _offsets(inst, _place(inst, order, best_fit=False))


# name -> sort key of storage i (smaller first); ties fall back to buffer order.
ORDERINGS: dict[str, Callable[[PlacementProblem, int], tuple]] = {
    "size": lambda inst, i: (-inst.size[i], inst.buffers[i].first, inst.buffers[i].name),
    "start": lambda inst, i: (inst.buffers[i].first, -inst.size[i]),
    "size_x_lifetime": lambda inst, i: (-inst.size[i] * (inst.buffers[i].last - inst.buffers[i].first + 1),),
    "conflict_degree": lambda inst, i: (-len(inst.conflicts[i]), -inst.size[i]),
    "conflict_bytes": lambda inst, i: (-sum(inst.size[j] for j in inst.conflicts[i]), -inst.size[i]),
    "peak_pressure": lambda inst, i: (-inst.pressure[i], -inst.size[i], inst.buffers[i].first),
    "lifetime": lambda inst, i: (inst.buffers[i].first - inst.buffers[i].last, -inst.size[i]),
}


def heuristic_offsets(inst: PlacementProblem) -> list[int]:
    """The smallest arena over every ordering x {first fit, best fit}; the first found wins ties."""
    best: list[int] | None = None
    for key in ORDERINGS.values():
        order = sorted(range(len(inst.size)), key=lambda i: (*key(inst, i), i))
        for best_fit in (False, True):
            offsets = _place(inst, order, best_fit)
            if best is None or inst.arena(offsets) < inst.arena(best):
                best = offsets
    return best or []


def exact_offsets(inst: PlacementProblem, incumbent: list[int], budget: int = EXACT_NODE_BUDGET) -> list[int]:
    """Branch and bound: the optimum when the search finishes within `budget` nodes, else the best found (never
    worse than `incumbent`).

    Any plan can be pushed down until every storage sits at 0 or on the (aligned) end of a conflicting storage
    below it, without growing. Sorted by (offset, index), such a plan is a sequence in which each storage's offset
    is 0 or the end of one placed before it, and offsets never decrease. The search enumerates exactly those
    sequences. Bound: the storages still to place all sit at or above the current offset p, so at every step t the
    arena reaches at least p + their sizes live at t + the parts above p of placed storages live at t."""
    n = len(inst.size)
    best = {"offsets": list(incumbent), "arena": inst.arena(incumbent)}
    offsets: list[int | None] = [None] * n
    nodes = 0

    def bound(floor: int, top: int) -> int:
        placed = np.array([o is not None for o in offsets])
        starts = np.array([max(o or 0, floor) for o in offsets], dtype=np.int64)
        ends = np.array([(o or 0) for o in offsets], dtype=np.int64) + inst.aligned
        above = np.where(placed, np.maximum(ends - starts, 0), inst.aligned)  # aligned bytes at or above floor
        waiting = inst.live & ~placed
        if not waiting.any():
            return top
        stacked = floor + inst.live @ above - (inst.live * inst.slack).max(axis=1)
        return max(top, int(stacked[waiting.any(axis=1)].max()))

    def search(floor: int, last: int, top: int, left: int) -> None:
        nonlocal nodes
        nodes += 1
        if left == 0:
            if top < best["arena"]:
                best["offsets"], best["arena"] = list(offsets), top
            return
        if nodes > budget or best["arena"] <= inst.lower_bound or bound(floor, top) >= best["arena"]:
            return
        candidates = []
        for i in range(n):
            if offsets[i] is not None:
                continue
            placed = [j for j in inst.conflicts[i] if offsets[j] is not None]
            for pos in sorted({0} | {inst.align(offsets[j] + inst.size[j]) for j in placed}):
                if (pos, i) <= (floor, last):
                    continue
                if all(pos + inst.size[i] <= offsets[j] or offsets[j] + inst.size[j] <= pos for j in placed):
                    candidates.append((pos, -inst.size[i], i))
        for pos, _, i in sorted(candidates):
            offsets[i] = pos
            search(pos, i, max(top, pos + inst.size[i]), left - 1)
            offsets[i] = None
            if nodes > budget or best["arena"] <= inst.lower_bound:
                return

    search(0, -1, 0, n)
    return best["offsets"]


def search_offsets(buffers: Sequence[Buffer], alignment: int = DEFAULT_ALIGNMENT,
                   budget: int = EXACT_NODE_BUDGET) -> dict[str, int]:
    """The default planner: the best heuristic plan, improved by branch and bound on small instances."""
    inst = PlacementProblem(buffers, alignment)
    offsets = heuristic_offsets(inst)
    if inst.arena(offsets) > inst.lower_bound and len(inst.size) <= EXACT_MAX_STORAGES:
        offsets = exact_offsets(inst, offsets, budget)
    return _offsets(inst, offsets)


def plan_memory(schedule: Schedule, planner: Planner = search_offsets, alignment: int = DEFAULT_ALIGNMENT) -> Schedule:
    """Place every storage with `planner` at multiples of `alignment`; aliases follow their root."""
    storages = schedule.storages()
    offsets = planner(storages, alignment)
    buffers = {name: replace(b, offset=offsets[b.alias or name] + b.alias_offset) if b.in_arena else b
               for name, b in schedule.buffers.items()}
    arena = max((offsets[s.name] + s.nbytes for s in storages), default=0)
    return schedule.replace(buffers=buffers, arena_bytes=arena, alignment=alignment)
