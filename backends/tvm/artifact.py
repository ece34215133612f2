"""The TVM backend's Artifact: the Relax module (its TVMScript is the generated file), built into an exported
library and run by the Relax VM on the CPU or the GPU; saved as that library plus a manifest, and loaded back from
them alone.

A cuda target on a machine without a GPU still builds: the CUDA source is produced and nvcc must compile it to a
cubin for the target's architecture (when nvcc is on PATH); running it is refused with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from edgelower.backends.artifact import Artifact, IOSpec
from edgelower.backends.tvm.build import CUDA_SOURCE, LIBRARY, Built, build_library, import_tvm
from edgelower.backends.tvm.lower import LoweredModule
from edgelower.backends.tvm.settings import TvmOptions
from edgelower.errors import TargetError
from edgelower.runtime.loader import cache_root

MODULE_TEXT = "model.relax.py"


class TvmArtifact(Artifact):
    def __init__(self, files: Mapping[str, str], spec: IOSpec, target, lowered: LoweredModule | None = None,
                 options: TvmOptions | None = None, library: Path | None = None, cuda_source: str | None = None):
        super().__init__(files, spec)
        self.target, self.lowered, self.options = target, lowered, options or TvmOptions()
        self.library, self.cuda_source = library, cuda_source
        self.nvcc = None         # cuda without a GPU: the NvccCheck of the source for the target's architecture
        self.why_not_run = ""    # set when this machine cannot run the artifact
        self._main = self._device = None

    @property
    def settings(self):
        return self.target.settings

    def build(self) -> None:
        """Compile (cached by content) unless loaded from a saved library; load it into a Relax VM on its device,
        or, for a GPU target here without one, check the CUDA source with nvcc and record why it cannot run."""
        if self.library is None:
            built: Built = build_library(self.lowered, self.settings, self.options)
            self.library, self.cuda_source = built.library, built.cuda_source
        tvm = import_tvm()
        if self.settings.is_gpu:
            from edgelower.backends.tvm.cuda import gpu_available, nvcc_check, nvcc_path

            if not gpu_available():
                self.why_not_run = (f"target {self.target.name!r} runs on an NVIDIA GPU ({self.settings.arch}), and "
                                    "TVM finds no CUDA device here (no GPU, or no driver: libcuda)")
                if nvcc_path() is not None and self.cuda_source is not None:
                    self.nvcc = nvcc_check(self.cuda_source, self.settings.arch, cache_root())
                return
        from tvm import relax

        self._device = tvm.cuda(0) if self.settings.is_gpu else tvm.cpu(0)
        vm = relax.VirtualMachine(tvm.runtime.load_module(str(self.library)), self._device)
        self._main = vm["main"]

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        arrays = self.spec.check_inputs(inputs)
        if self._main is None and not self.why_not_run:
            self.build()
        if self.why_not_run:
            checked = f"; its CUDA source compiles with nvcc for {self.nvcc.arch}" if self.nvcc else ""
            raise TargetError(f"cannot run: {self.why_not_run}{checked}. Save it (cm.save(dir)) and run "
                              "edgelower.load(dir) on a machine with the GPU.")
        import tvm

        outs = self._main(*[tvm.runtime.tensor(a, self._device) for a in arrays])
        return [np.asarray(o.numpy()) for o in outs]

    def project_files(self) -> dict[str, str | bytes]:
        """The exported library (weights bound in) and, for CUDA, the kernels' source."""
        if self.library is None:
            self.build()
        files: dict[str, str | bytes] = {LIBRARY: self.library.read_bytes()}
        if self.cuda_source is not None:
            files[CUDA_SOURCE] = self.cuda_source
        return files

    def manifest(self) -> dict:
        import tvm

        entry = {"library": LIBRARY, "tvm_version": tvm.__version__, "tune_trials": self.options.tune_trials}
        if self.nvcc is not None:
            entry["nvcc"] = self.nvcc.to_dict()
        return {"tvm": entry}


def load_tvm(directory: Path, manifest: dict, target) -> TvmArtifact:
    files = {name: (directory / name).read_text() for name in manifest["files"]}
    entry = manifest["tvm"]
    source = directory / CUDA_SOURCE
    return TvmArtifact(files, IOSpec.from_dict(manifest), target, options=TvmOptions(entry["tune_trials"]),
                       library=directory / entry["library"],
                       cuda_source=source.read_text() if source.exists() else None)
