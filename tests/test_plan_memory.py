"""plan_memory (greedy by size): no two simultaneously live buffers share bytes; the arena covers the live set."""

from hypothesis import given, strategies as st

from edgelower.ir import DType, TensorType
from edgelower.passes.plan_memory import greedy_by_size
from edgelower.schedule import ARENA_ALIGN, Buffer, BufferKind


@st.composite
def buffers(draw):
    n = draw(st.integers(1, 24))
    out = []
    for i in range(n):
        first = draw(st.integers(-1, 20))
        last = draw(st.integers(first, 21))
        size = draw(st.integers(1, 300))
        out.append(Buffer(f"b{i}", TensorType((size,), DType.INT8), BufferKind.ACTIVATION, first, last))
    return out


@given(buffers())
def test_live_buffers_never_overlap(bufs):
    offsets = greedy_by_size(bufs)
    placed = [(b, offsets[b.name]) for b in bufs]
    for i, (a, oa) in enumerate(placed):
        assert oa % ARENA_ALIGN == 0
        for b, ob in placed[i + 1:]:
            if a.overlaps_in_time(b):
                assert oa + a.nbytes <= ob or ob + b.nbytes <= oa, (a, oa, b, ob)


@given(buffers())
def test_arena_is_never_below_the_live_set(bufs):
    offsets = greedy_by_size(bufs)
    arena = max(offsets[b.name] + b.nbytes for b in bufs)
    for step in range(-1, 22):
        assert arena >= sum(b.nbytes for b in bufs if b.first <= step <= b.last)


def test_disjoint_lifetimes_share_offset_zero():
    a = Buffer("a", TensorType((100,), DType.INT8), BufferKind.ACTIVATION, 0, 1)
    b = Buffer("b", TensorType((64,), DType.INT8), BufferKind.ACTIVATION, 2, 3)
    assert greedy_by_size([a, b]) == {"a": 0, "b": 0}
