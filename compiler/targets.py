"""Targets are data: one table of everything edgelower can compile for.

A target names the backend that renders it, the pass pipeline it needs, how its output is built and run, and the
memory budgets of the board (None where the host has no fixed budget).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgelower.errors import TargetError


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    backend: str                      # key of edgelower.backends.BACKENDS
    runner: str                       # "host": build a shared library, run through ctypes
    cc: str = "cc"
    cflags: tuple[str, ...] = ()
    features: frozenset[str] = field(default_factory=frozenset)   # e.g. "fpu", "dsp", "mve"
    sram_bytes: int | None = None
    flash_bytes: int | None = None


TARGETS: dict[str, Target] = {
    "host": Target("host", "this machine: C99 built with the system compiler, run through ctypes", backend="c",
                   runner="host", cflags=("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"),
                   features=frozenset({"fpu"})),
}


def get_target(name: str) -> Target:
    if isinstance(name, Target):
        return name
    if name not in TARGETS:
        raise TargetError(f"unknown target {name!r}; valid targets: {', '.join(TARGETS)} "
                          "(`edgelower targets` describes them)")
    return TARGETS[name]
