"""The C backend's own target settings (the compiler and flags, how the weights are linked, where the built code
runs) and its compile options."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Machine:
    """A qemu-system-arm machine: how to start it, and the memory map its images are linked for."""

    name: str               # -M
    cpu: str                # -cpu
    flash_origin: int       # code, constants and the .data load image
    flash_bytes: int
    ram_origin: int         # .data, .bss and the stack
    ram_bytes: int


@dataclass(frozen=True)
class CSettings:
    """runner "host": a shared library loaded through ctypes; "qemu": firmware run under qemu-system-arm on
    `machine`, built for `core`."""

    runner: str
    cc: str = "cc"
    cflags: tuple[str, ...] = ()
    core: str | None = None
    machine: Machine | None = None
    # How the weights blob is linked (backends/c/weights.py): "incbin", GNU as pulls in the raw bytes (gcc, clang,
    # arm-none-eabi-gcc on ELF); "c", hex string literals for any C99 compiler. A compilation may override it.
    weights: str = "incbin"

    @property
    def runs_on(self) -> str:
        return f"QEMU {self.machine.name}" if self.machine is not None else "this machine (ctypes)"

    @property
    def needs(self) -> str:
        """What must be installed to build and run it (Debian package names)."""
        if self.runner == "qemu":
            return "gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm"
        return f"a C99 compiler ({self.cc})"

    @property
    def in_process(self) -> bool:
        """Whether the built code runs in this Python process (so torch.compile may call PyTorch between regions)."""
        return self.runner == "host"


@dataclass(frozen=True)
class COptions:
    """`edgelower.compile(..., weights="c")`: link the weights as C source instead of the target's default form,
    e.g. for a saved project an IDE without GNU as builds. None: the target's `CSettings.weights`."""

    weights: str | None = None

    def __post_init__(self):
        from edgelower.backends.c.weights import FORMS

        if self.weights not in (None, *FORMS):
            raise ValueError(f"weights={self.weights!r}; valid: None (the target's), {', '.join(map(repr, FORMS))}")
