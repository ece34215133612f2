"""The C backend's Artifact: generated C built with the target's compiler and run on the host (ctypes) or as
firmware under QEMU; saved as a project with the runtime sources and a Makefile."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from edgelower.backends.artifact import Artifact, IOSpec


class CArtifact(Artifact):
    def __init__(self, files: Mapping[str, str | bytes], spec: IOSpec, target):
        super().__init__(files, spec)
        self.target = target
        self.library: Path | None = None   # host: the shared library
        self.firmware = None               # Cortex-M: the built images (edgelower.runtime.cortex_m.Firmware)
        self._runner = None

    def build(self) -> None:
        """Compile the generated sources (cached by content hash) and load them. For a firmware target this also
        checks the board's budgets and measures the ELF sizes and instruction count."""
        if self.target.settings.runner == "qemu":
            from edgelower.runtime.cortex_m import QemuModel, build_firmware

            self.firmware = build_firmware(self.files, self.spec, self.target)
            self._runner = QemuModel(self.firmware, self.spec)
            return
        from edgelower.runtime.loader import HostModel, build_shared_library

        self.library = build_shared_library(self.files, cflags=self.target.settings.cflags,
                                            cc=self.target.settings.cc)
        self._runner = HostModel(self.library, self.spec)

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        if self._runner is None:
            self.build()
        return self._runner.run(list(inputs))

    def report_fields(self) -> dict:
        return self.firmware.report_fields() if self.firmware is not None else {}

    def project_files(self) -> dict[str, str]:
        """The runtime's sources and the build files: a Makefile for the host, firmware support for Cortex-M."""
        from edgelower.runtime.loader import runtime_sources
        from edgelower.runtime.project import project_files

        runtime = {f"runtime/{name}": text for name, text in runtime_sources().items()}
        return {**runtime, **project_files(self.target, sorted(self.files), self.spec.prefix)}


def load_c(directory: Path, manifest: dict, target) -> CArtifact:
    """The generated files as saved: sources as text, the weights' .bin as bytes."""
    files = {name: (directory / name).read_bytes() if name.endswith(".bin") else (directory / name).read_text()
             for name in manifest["files"]}
    return CArtifact(files, IOSpec.from_dict(manifest), target)
