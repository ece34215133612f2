"""The MLIR backend's Artifact: `model.mlir` (linalg-on-tensors, the generated file) compiled by IREE into
`model.vmfb` for the target's HAL backend, and run by iree.runtime on its driver.

`build` compiles (cached by content) on any machine; `run` needs the target's device (this CPU for iree-cpu, a GPU
for iree-cuda and iree-vulkan) and says what is missing where there is none. A saved project holds both files; `load`
takes the .vmfb back as it is, without compiling again. The compile cache's entries (compiler/compile_cache.py) hold
the emitted model.mlir only: loaded from there, `build` compiles it (IREE's compiles are cached by content too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from edgelower.backends.artifact import Artifact, IOSpec

from edgelower.backends.mlir.vmfb import IreeModule, compile_vmfb, compiler_version

MLIR_FILE, VMFB_FILE = "model.mlir", "model.vmfb"


class IreeArtifact(Artifact):
    def __init__(self, files: Mapping[str, str], spec: IOSpec, target, vmfb: bytes | None = None):
        super().__init__(files, spec)
        self.target = target
        self.vmfb = vmfb
        self._module: IreeModule | None = None

    @property
    def settings(self):
        return self.target.settings

    def build(self) -> None:
        """Compile model.mlir to a .vmfb for the target (no device needed)."""
        if self.vmfb is None:
            self.vmfb = compile_vmfb(self.files[MLIR_FILE], self.settings)

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        arrays = self.spec.check_inputs(inputs)
        if self._module is None:
            self.build()
            self._module = IreeModule(self.vmfb, self.settings, self.target.name)
        outputs = self._module.run(arrays)
        # bool results travel as int8 (0 or 1)
        return [o.astype(np.bool_) if s.dtype == np.bool_ else o for o, s in zip(outputs, self.spec.outputs)]

    def report_fields(self) -> dict:
        return {}

    def project_files(self) -> dict[str, bytes]:
        self.build()
        return {VMFB_FILE: self.vmfb}

    def manifest(self) -> dict:
        s = self.settings
        return {"iree": {"vmfb": VMFB_FILE, "hal_backend": s.hal_backend, "flags": list(s.flags), "driver": s.driver,
                         "iree_compiler": compiler_version()}}


def load_iree(directory: Path, manifest: dict, target) -> IreeArtifact:
    files = {name: (directory / name).read_text() for name in manifest["files"]}
    path = directory / manifest.get("iree", {}).get("vmfb", VMFB_FILE)
    return IreeArtifact(files, IOSpec.from_dict(manifest), target, path.read_bytes() if path.is_file() else None)
