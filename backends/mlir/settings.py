"""The MLIR backend's own target settings: which IREE HAL target backend compiles the module, with which flags, and
which runtime driver runs the .vmfb."""

from __future__ import annotations

from dataclasses import dataclass

EXTRA = "pip install 'edgelower[mlir]'"
ENTRY = "main"  # the one function of every exported module


@dataclass(frozen=True)
class IreeSettings:
    """hal_backend: an `iree-compile --iree-hal-target-backends` value (llvm-cpu, cuda, vulkan-spirv); flags: the
    rest of the command line; driver: the iree.runtime driver that runs the result (local-sync: one thread on this
    CPU); device: what that driver needs, in words, for the error raised where it is missing."""

    hal_backend: str
    flags: tuple[str, ...] = ()
    driver: str = "local-sync"
    device: str = "this CPU"

    @property
    def runs_on(self) -> str:
        return "this machine (iree.runtime)" if self.driver.startswith("local") else f"{self.device} (iree.runtime)"

    @property
    def needs(self) -> str:
        """What must be installed to build it (and, for a GPU target, what running it needs besides)."""
        base = f"iree-base-compiler and iree-base-runtime ({EXTRA})"
        return base if self.driver.startswith("local") else f"{base}; running it: {self.device}"

    @property
    def in_process(self) -> bool:
        """Whether the built code runs in this Python process (so torch.compile may call PyTorch between regions)."""
        return self.driver.startswith("local")
