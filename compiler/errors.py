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
        # `listing` alone is what a torch.compile warning says: there, nothing was meant to be written.
        self.listing = f"{len(ops)} unsupported op(s): {', '.join(ops)}\n" + "\n".join(lines)
        super().__init__(self.listing + "\nNothing was written. Rewrite these parts of the model with supported ops "
                         "(`edgelower.frontend.capture.supported_aten_ops()` lists them), or keep them out of the compiled "
                         "region.")


class BackendUnsupportedError(UnsupportedOpError):
    """The target's backend cannot render these nodes of the compiled graph; raised before anything is written,
    naming each node, why, and its source line."""

    def __init__(self, backend: str, target: str, items: list[Unsupported]):
        self.items, self.backend, self.target = list(items), backend, target
        lines = [f"  {u.what} (node {u.node})" + (f"\n      at {u.source}" if u.source else "") for u in self.items]
        ops = sorted({u.what.split(":")[0] for u in self.items})
        self.listing = (f"the {backend} backend (target {target!r}) cannot render {len(ops)} kind(s) of op "
                        f"({', '.join(ops)}):\n" + "\n".join(lines))
        EdgelowerError.__init__(
            self, self.listing + "\nNothing was written. Choose a target whose backend supports them (`edgelower "
            "targets`), compile with other quantize options, or replace them in the model.")


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


class CalibrationError(EdgelowerError):
    """quantize='int8' without calibration data, or calibration inputs that do not match the model's inputs."""


class IntegerLoweringError(EdgelowerError):
    """Ops with no integer-only lowering, each named with why, its node and its source line, before anything is
    written. `items` holds them (`what` is "OP: reason")."""

    def __init__(self, items: list[Unsupported]):
        self.items = list(items)
        lines = [f"  {u.what} (node {u.node})" + (f"\n      at {u.source}" if u.source else "") for u in self.items]
        ops = sorted({u.what.split(":")[0] for u in self.items})
        super().__init__(f"{len(ops)} kind(s) of op cannot run on int8 ({', '.join(ops)}):\n" + "\n".join(lines) +
                         "\nNothing was written. Compile with int_only=False to keep these ops in float between "
                         "DEQUANTIZE and QUANTIZE (the target then needs float kernels: an FPU), or replace them "
                         "in the model.")
