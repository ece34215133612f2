"""plan_memory's planners on random storages: no two simultaneously live storages share a byte, the arena covers
the live set, search_offsets is never worse than greedy_by_size, deterministic, and exact on small instances.

Whole schedules (aliases, reordering, the interpreter on the planned arena) are in test_memory_schedule.py.
"""

import itertools

from hypothesis import given, settings, strategies as st

from edgelower.ir.graph import DType, TensorType
from edgelower.passes.memory.plan_memory import (
    PlacementProblem, exact_offsets, greedy_by_size, heuristic_offsets, search_offsets,
)
from edgelower.ir.schedule import Buffer, BufferKind
from edgelower.passes.memory.plan_memory import DEFAULT_ALIGNMENT as ARENA_ALIGN


@st.composite
def buffers(draw, max_buffers: int = 24, max_size: int = 300):
    n = draw(st.integers(1, max_buffers))
    out = []
    for i in range(n):
        first = draw(st.integers(-1, 20))
        last = draw(st.integers(first, 21))
        size = draw(st.integers(1, max_size))
        out.append(Buffer(f"b{i}", TensorType((size,), DType.INT8), BufferKind.ACTIVATION, first, last))
    return out


def arena(bufs, offsets) -> int:
    return max(offsets[b.name] + b.nbytes for b in bufs)


def live_bound(bufs) -> int:
    return max(sum(b.nbytes for b in bufs if b.first <= step <= b.last) for step in range(-1, 22))


def assert_valid(bufs, offsets) -> None:
    placed = [(b, offsets[b.name]) for b in bufs]
    for i, (a, oa) in enumerate(placed):
        assert oa >= 0 and oa % ARENA_ALIGN == 0
        for b, ob in placed[i + 1:]:
            if a.overlaps_in_time(b):
                assert oa + a.nbytes <= ob or ob + b.nbytes <= oa, (a, oa, b, ob)
    assert arena(bufs, offsets) >= live_bound(bufs)


@given(buffers())
def test_greedy_by_size_places_live_buffers_apart(bufs):
    assert_valid(bufs, greedy_by_size(bufs))


@settings(max_examples=60)
@given(buffers())
def test_search_is_valid_never_worse_than_greedy_and_deterministic(bufs):
    # A small node budget keeps this quick; the properties hold for any budget (the search starts from the best
    # heuristic plan, which starts from greedy_by_size's).
    offsets = search_offsets(bufs, budget=500)
    assert_valid(bufs, offsets)
    assert arena(bufs, offsets) <= arena(bufs, greedy_by_size(bufs))
    assert search_offsets(list(bufs), budget=500) == offsets


def optimum(bufs) -> int:
    """Brute force: every buffer at every sum of aligned sizes of the others (a plan pushed down to the floor puts
    each buffer on a chain of buffers below it), keeping the smallest valid arena."""
    aligned = [-(-b.nbytes // ARENA_ALIGN) * ARENA_ALIGN for b in bufs]
    sums = sorted({sum(c) for r in range(len(bufs)) for c in itertools.combinations(aligned, r)})
    best = None
    for offsets in itertools.product(sums, repeat=len(bufs)):
        if best is not None and max(o + b.nbytes for o, b in zip(offsets, bufs)) >= best:
            continue
        if all(not a.overlaps_in_time(b) or oa + a.nbytes <= ob or ob + b.nbytes <= oa
               for (a, oa), (b, ob) in itertools.combinations(zip(bufs, offsets), 2)):
            best = max(o + b.nbytes for o, b in zip(offsets, bufs))
    return best


@settings(max_examples=30)
@given(buffers(max_buffers=4, max_size=70))
def test_branch_and_bound_finds_the_optimum_of_small_instances(bufs):
    inst = PlacementProblem(bufs)
    greedy = list(greedy_by_size(bufs).values())
    assert inst.arena(exact_offsets(inst, greedy)) == optimum(bufs)


def test_branch_and_bound_beats_every_heuristic_where_they_all_fail():
    """d, then a beside it, then c over a's end: the tight plan stacks a on d's end so that c, which outlives a,
    can sit at 0 when b arrives. Every ordering places a at 0 and pays 16 bytes more."""
    def buf(name, size, first, last):
        return Buffer(name, TensorType((size,), DType.INT8), BufferKind.ACTIVATION, first, last)

    bufs = [buf("a", 32, 1, 3), buf("b", 96, 5, 5), buf("c", 64, 3, 6), buf("d", 80, 2, 2)]
    inst = PlacementProblem(bufs)
    heuristic = heuristic_offsets(inst)
    exact = exact_offsets(inst, heuristic)
    assert inst.arena(heuristic) == 176
    assert inst.arena(exact) == inst.lower_bound == optimum(bufs) == 160
    assert arena(bufs, search_offsets(bufs)) == 160


def test_disjoint_lifetimes_share_offset_zero():
    a = Buffer("a", TensorType((100,), DType.INT8), BufferKind.ACTIVATION, 0, 1)
    b = Buffer("b", TensorType((64,), DType.INT8), BufferKind.ACTIVATION, 2, 3)
    assert greedy_by_size([a, b]) == {"a": 0, "b": 0} == search_offsets([a, b])
