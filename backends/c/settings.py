"""The C backend's own target settings: the compiler and flags, and where the built code runs."""

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
