"""The HLS backend's Artifact: generated HLS C++ with its testbench, test vectors and build_prj.tcl; `run` is
C-simulation (g++ and the ap_types headers, built once per content hash), the report carries the estimate."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from edgelower.backends.artifact import Artifact, IOSpec


class HlsArtifact(Artifact):
    def __init__(self, files: Mapping[str, str | bytes], spec: IOSpec, target, estimate: dict, io_type: str):
        super().__init__(files, spec)
        self.target, self.estimate, self.io_type = target, dict(estimate), io_type
        self.executable: Path | None = None
        self.unavailable: Exception | None = None

    def build(self) -> None:
        """Build the C-simulation when the ap_types headers are here. Without them the project is still complete
        (Vitis brings its own headers); `run` then raises the error that names what to install."""
        from edgelower.backends.hls.csim import HlsToolError, build_csim

        try:
            self.executable = build_csim(self.files, self.spec.prefix)
            self.unavailable = None
        except HlsToolError as e:
            self.unavailable = e

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        from edgelower.runtime.loader import run_executable

        if self.executable is None:
            self.build()
        if self.unavailable is not None:
            raise self.unavailable
        return run_executable(self.executable, self.spec, list(inputs))

    def report_fields(self) -> dict:
        return {"extra": {"hls": self.estimate}}

    def project_files(self) -> dict[str, str]:
        from edgelower.backends.hls.csim import kernel_headers

        return kernel_headers()

    def manifest(self) -> dict:
        return {"hls": {"io_type": self.io_type, "estimate": self.estimate}}


def load_hls(directory: Path, manifest: dict, target) -> HlsArtifact:
    files = {}
    for name in manifest["files"]:
        path = directory / name
        files[name] = path.read_bytes() if name.endswith(".bin") else path.read_text()
    hls = manifest.get("hls", {})
    return HlsArtifact(files, IOSpec.from_dict(manifest), target, hls.get("estimate", {}), hls.get("io_type", ""))
