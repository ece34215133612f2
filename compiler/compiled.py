"""CompiledModel: the artifact of a compilation — its backend's Artifact, the report, and a way to run them.

A saved project is a self-contained directory: the generated files, what the artifact adds (the C backend: the
runtime's sources and a Makefile), and `manifest.json` (I/O signature, target, report, the generated file list).
`load(dir)` asks the target's backend to bring the artifact back from those files alone.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgelower.backends.artifact import Artifact, IOSpec, TensorSpec, write_files
from edgelower.errors import SaveError
from edgelower.interp import IMPLS
from edgelower.ir.graph import Op
from edgelower.report import Report
from edgelower.targets import Target, get_target

MANIFEST_VERSION = 1


def quantize_with(x: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """A float array as the int8 input `spec` takes it: exactly Op.QUANTIZE (the interpreter's definition)."""
    if np.asarray(x).dtype.kind != "f":
        raise ValueError(f"input %{spec.name} is int8 with scale {spec.scale}: give float values to convert "
                         f"(or int8 to run raw), not {np.asarray(x).dtype}")
    return IMPLS[Op.QUANTIZE]([np.asarray(x, np.float32)], {"scale": spec.scale, "zero_point": spec.zero_point})[0]


def dequantize_with(q: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """An int8 output as float32: exactly Op.DEQUANTIZE, (q - zero_point) * scale."""
    return IMPLS[Op.DEQUANTIZE]([q], {"scale": spec.scale, "zero_point": spec.zero_point})[0]


class CompiledModel:
    def __init__(self, artifact: Artifact, report: Report, target: Target, graph=None, schedule=None):
        self.artifact, self.report, self.target = artifact, report, target
        self.graph, self.schedule = graph, schedule

    @property
    def spec(self) -> IOSpec:
        return self.artifact.spec

    @property
    def files(self) -> dict[str, str | bytes]:
        """The generated files (the C backend: model.c, model.h, main.c)."""
        return self.artifact.files

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self.spec.inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self.spec.outputs

    def build(self) -> None:
        """Build the artifact (cached by content) so that it runs here; what building measures (ELF sizes,
        instruction counts, resource estimates) goes into the report."""
        self.artifact.build()
        self.report = replace(self.report, **self.artifact.report_fields())

    def run_numpy(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Arrays in, arrays out; shapes and dtypes are checked against the compiled signature."""
        return self.artifact.run([np.asarray(x) for x in inputs])

    def __call__(self, *inputs: Any):
        """Tensors in, tensors out (numpy in, numpy out); one output comes back bare, several as a tuple.

        An int8 model (quantize="int8") takes and returns int8 at its C API. Here float inputs are converted for
        it: each float input of an int8 input is quantized with that input's scale and zero point (Op.QUANTIZE:
        round half away from zero, clamp to int8's range) and every int8 output comes back dequantized to float32,
        (q - zero_point) * scale. Given int8 arrays for its int8 inputs, it runs them raw and returns raw int8, as
        `run_numpy` always does."""
        if len(inputs) != len(self.inputs):
            expected = ", ".join(f"{s.name}: {np.dtype(s.dtype).name}{list(s.shape)}" for s in self.inputs)
            raise TypeError(f"the compiled model takes {len(self.inputs)} input(s) ({expected}), got {len(inputs)}")
        as_torch = any(type(x).__module__.startswith("torch") for x in inputs)
        arrays = [np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x) for x in inputs]
        quantized = [(s, a) for s, a in zip(self.inputs, arrays) if s.scale is not None]
        raw = bool(quantized) and all(a.dtype == np.int8 for _, a in quantized)
        if not raw and any(a.dtype == np.int8 for _, a in quantized):
            raise ValueError("give every int8 input as float (converted) or every one as int8 (raw), not a mix")
        if not raw:
            arrays = [quantize_with(a, s) if s.scale is not None else a for s, a in zip(self.inputs, arrays)]
        outs = self.run_numpy(arrays)
        if not raw:
            outs = [dequantize_with(o, s) if s.scale is not None else o for s, o in zip(self.outputs, outs)]
        if as_torch:
            import torch

            outs = [torch.from_numpy(o) for o in outs]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def export_tflite(self, path: str | os.PathLike, channels_last_io: bool = False) -> Path:
        """Write the compiled integer graph as a .tflite for TensorFlow Lite Micro, which computes the same bytes
        (`edgelower.backends.tflite.export`; needs the `tflite` extra). Float graphs have no TFLite int8 form. Missing
        parent directories are created, as `save` does."""
        from edgelower.backends.tflite.export import export_tflite

        if self.graph is None:
            raise ValueError("this CompiledModel holds no graph (it was loaded from a project directory); "
                             "export from the model edgelower.compile returned")
        flatbuffer = export_tflite(self.graph, channels_last_io=channels_last_io)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(flatbuffer)
        return Path(path)

    def export_mlir(self, path: str | os.PathLike) -> Path:
        """Write the compiled graph as linalg-on-tensors MLIR text, built with the upstream MLIR Python bindings and
        checked by the upstream verifier before it is written (`edgelower.backends.mlir.export`; needs the `mlir`
        extra). Float and int8 graphs of any target: `q` records become primitive integer ops first. Weights are
        dense resources; the same model gives the same bytes. Missing parent directories are created."""
        from edgelower.backends.mlir.export import export_mlir

        if self.graph is None:
            raise ValueError("this CompiledModel holds no graph (it was loaded from a project directory); "
                             "export from the model edgelower.compile returned")
        text = export_mlir(self.graph)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
        return Path(path)

    def __repr__(self) -> str:
        sig = ", ".join(f"{s.name}: {s.dtype}{list(s.shape)}" for s in self.inputs)
        return f"<CompiledModel {self.spec.prefix}({sig}) for {self.target.name}, arena {self.report.arena_bytes} B>"

    def manifest(self) -> dict:
        return {"edgelower_manifest": MANIFEST_VERSION, "target": self.target.name, "backend": self.target.backend,
                **self.spec.to_dict(), "files": sorted(self.files), "report": self.report.to_dict(),
                **self.artifact.manifest()}

    def save(self, directory: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write a self-contained project (the generated files, what the artifact needs beside them, manifest,
        graph and report). Nothing is half-written: the project is assembled in a temporary sibling directory and
        moved into place at the end."""
        target = Path(directory)
        if target.exists() and (not target.is_dir() or any(target.iterdir())) and not overwrite:
            raise SaveError(f"{target} exists and is not empty; pass overwrite=True (CLI: --overwrite) to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = _staging_directory(target)
        try:
            write_files(staging, {**self.files, **self.artifact.project_files()})
            (staging / "manifest.json").write_text(json.dumps(self.manifest(), indent=2, sort_keys=True) + "\n")
            if self.graph is not None:
                (staging / "graph.txt").write_text(str(self.graph) + "\n")
            (staging / "report.txt").write_text(str(self.report) + "\n")
            if target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target


def _staging_directory(target: Path) -> Path:
    """A new empty sibling of `target`, made with a plain mkdir so that it gets the umask's permissions (mkdtemp's
    are 700, and the directory becomes the project)."""
    while True:
        staging = target.parent / f".{target.name}.{secrets.token_hex(4)}"
        try:
            staging.mkdir()
            return staging
        except FileExistsError:
            continue


def load(directory: str | os.PathLike) -> CompiledModel:
    """Bring back a project written by `CompiledModel.save`, rebuilt by its backend from its own files."""
    from edgelower.backends import BACKENDS

    directory = Path(directory)
    manifest_path = directory / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{directory} is not an edgelower project (no manifest.json); "
                                "write one with CompiledModel.save() or `edgelower compile -o DIR`")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("edgelower_manifest") != MANIFEST_VERSION:
        raise ValueError(f"{manifest_path}: unsupported manifest version {manifest.get('edgelower_manifest')!r}")
    target = get_target(manifest["target"])
    artifact = BACKENDS[target.backend].load(directory, manifest, target)
    model = CompiledModel(artifact, Report.from_dict(manifest["report"]), target)
    model.build()
    return model
