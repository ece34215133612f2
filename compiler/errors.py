"""User-facing errors. Each names the cause and what to do about it."""

from __future__ import annotations

from dataclasses import dataclass


class EdgelowerError(Exception):
    """Base of every error edgelower raises on purpose."""


@dataclass(frozen=True)
class Unsupported:
    what: str       # the ATen op (or construct) that has no lowering
    node: str       # the FX node name
    source: str     # the user's source line, "" when unknown


class UnsupportedOpError(EdgelowerError):
    """Raised before any code is written, naming every unsupported op with its node and source line."""

    def __init__(self, items: list[Unsupported]):
        self.items = list(items)
        lines = [f"  {u.what} (node {u.node})" + (f"\n      at {u.source}" if u.source else "") for u in self.items]
        ops = sorted({u.what for u in self.items})
        super().__init__(f"{len(ops)} unsupported op(s): {', '.join(ops)}\n" + "\n".join(lines) +
                         "\nNothing was written. Rewrite these parts of the model with supported ops "
                         "(`edgelower.capture.supported_aten_ops()` lists them), or keep them out of the compiled "
                         "region.")


class CaptureError(EdgelowerError):
    """The model could not be captured as a static graph (dynamic shapes, data-dependent control flow, ...)."""


class TargetError(EdgelowerError):
    """Unknown target, or a toolchain the target needs is missing."""


class BuildError(EdgelowerError):
    """The generated code failed to compile; the message carries the compiler's output."""


class MemoryBudgetError(EdgelowerError):
    """The model does not fit the memory budget; the message states the best arena found and the peak op."""


class SaveError(EdgelowerError):
    """A project directory could not be written (e.g. it is not empty and overwrite=False)."""


class ExecutionError(EdgelowerError):
    """A built artifact failed while running: a non-zero status from invoke, a crash, or a sanitizer report."""
