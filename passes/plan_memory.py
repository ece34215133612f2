"""Assign every arena buffer an offset in one static arena.

Pre: a linearized Schedule (lifetimes set, offsets None).
Post: every arena buffer has a 16-byte-aligned offset; no two buffers with overlapping lifetimes overlap in
bytes; `arena_bytes` is the end of the highest buffer.

The baseline is TFLite Micro's GreedyMemoryPlanner: place buffers largest first, each at the lowest offset
where it does not collide with an already placed buffer that is live at the same time.
"""

from __future__ import annotations

from dataclasses import replace

from edgelower.schedule import ARENA_ALIGN, Buffer, Schedule


def _align(n: int) -> int:
    return -(-n // ARENA_ALIGN) * ARENA_ALIGN


def first_fit(buffer: Buffer, placed: list[Buffer]) -> int:
    """The lowest aligned offset where `buffer` fits between the time-overlapping buffers already placed."""
    conflicts = sorted((b for b in placed if b.overlaps_in_time(buffer)), key=lambda b: b.offset)
    offset = 0
    for other in conflicts:
        if offset + buffer.nbytes <= other.offset:
            break
        offset = max(offset, _align(other.offset + other.nbytes))
    return offset


def greedy_by_size(buffers: list[Buffer]) -> dict[str, int]:
    order = sorted(buffers, key=lambda b: (-b.nbytes, b.first, b.name))
    placed: list[Buffer] = []
    for buffer in order:
        placed.append(replace(buffer, offset=first_fit(buffer, placed)))
    return {b.name: b.offset for b in placed}


def plan_memory(schedule: Schedule) -> Schedule:
    offsets = greedy_by_size(schedule.arena_buffers())
    buffers = {name: replace(b, offset=offsets[name]) if name in offsets else b
               for name, b in schedule.buffers.items()}
    arena = max((offsets[n] + buffers[n].nbytes for n in offsets), default=0)
    return schedule.replace(buffers=buffers, arena_bytes=arena)
