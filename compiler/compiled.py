"""CompiledModel: the artifact of a compilation — generated files, report, and a way to run them.

A saved project is a self-contained directory: the generated model sources, the runtime sources, a Makefile, and
`manifest.json` (I/O signature, target, report). `load(dir)` rebuilds from those sources alone.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgelower.errors import SaveError
from edgelower.report import Report
from edgelower.targets import Target, get_target

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class IOSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str

    def check(self, index: int, array: np.ndarray, role: str = "input") -> np.ndarray:
        if tuple(array.shape) != self.shape:
            raise ValueError(f"{role} {index} ({self.name}) has shape {tuple(array.shape)}, expected {self.shape}")
        if array.dtype != np.dtype(self.dtype):
            raise TypeError(f"{role} {index} ({self.name}) has dtype {array.dtype}, expected {self.dtype}")
        return np.ascontiguousarray(array)


def _specs(schedule, names) -> tuple[IOSpec, ...]:
    types = schedule.graph.types
    return tuple(IOSpec(n, types[n].shape, types[n].dtype.value) for n in names)


class CompiledModel:
    def __init__(self, files: dict[str, str], inputs: Sequence[IOSpec], outputs: Sequence[IOSpec], report: Report,
                 target: Target, prefix: str = "model", graph=None, schedule=None):
        self.files = dict(files)
        self.inputs, self.outputs = tuple(inputs), tuple(outputs)
        self.report, self.target, self.prefix = report, target, prefix
        self.graph, self.schedule = graph, schedule
        self._runner = None

    @classmethod
    def from_schedule(cls, schedule, files, report, target, prefix) -> "CompiledModel":
        return cls(files, _specs(schedule, schedule.graph.inputs), _specs(schedule, schedule.graph.outputs),
                   report, target, prefix, schedule.graph, schedule)

    def build(self) -> None:
        """Compile the generated sources (cached by content hash) and load them."""
        from edgelower.runtime.loader import HostModel, build_shared_library

        if self.target.runner != "host":
            raise NotImplementedError(f"running target {self.target.name!r} from Python")
        library = build_shared_library(self.files, cflags=self.target.cflags)
        self._runner = HostModel(library, self.prefix, [(s.shape, s.dtype) for s in self.inputs],
                                 [(s.shape, s.dtype) for s in self.outputs])

    def run_numpy(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        if len(inputs) != len(self.inputs):
            raise TypeError(f"the model takes {len(self.inputs)} input(s) "
                            f"({', '.join(s.name for s in self.inputs)}), got {len(inputs)}")
        arrays = [spec.check(i, np.asarray(x)) for i, (spec, x) in enumerate(zip(self.inputs, inputs))]
        if self._runner is None:
            self.build()
        return self._runner.run(arrays)

    def __call__(self, *inputs: Any):
        """Tensors in, tensors out (numpy in, numpy out); one output comes back bare, several as a tuple."""
        as_torch = any(type(x).__module__.startswith("torch") for x in inputs)
        arrays = [x.detach().cpu().numpy() if hasattr(x, "detach") else x for x in inputs]
        outs = self.run_numpy(arrays)
        if as_torch:
            import torch

            outs = [torch.from_numpy(o) for o in outs]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def __repr__(self) -> str:
        sig = ", ".join(f"{s.name}: {s.dtype}{list(s.shape)}" for s in self.inputs)
        return f"<CompiledModel {self.prefix}({sig}) for {self.target.name}, arena {self.report.arena_bytes} B>"

    def manifest(self) -> dict:
        return {"edgelower_manifest": MANIFEST_VERSION, "prefix": self.prefix, "target": self.target.name,
                "inputs": [s.__dict__ for s in self.inputs], "outputs": [s.__dict__ for s in self.outputs],
                "files": sorted(self.files), "report": self.report.to_dict()}

    def save(self, directory: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write a self-contained project (sources, runtime, Makefile, manifest). Nothing is half-written:
        the project is assembled in a temporary sibling directory and moved into place at the end."""
        from edgelower.runtime import INCLUDE_DIR, SRC_DIR
        from edgelower.runtime.project import project_makefile

        target = Path(directory)
        if target.exists() and (not target.is_dir() or any(target.iterdir())) and not overwrite:
            raise SaveError(f"{target} exists and is not empty; pass overwrite=True (CLI: --overwrite) to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            for name, text in sorted(self.files.items()):
                (staging / name).write_text(text)
            shutil.copytree(INCLUDE_DIR, staging / "runtime" / "include")
            shutil.copytree(SRC_DIR, staging / "runtime" / "src")
            (staging / "Makefile").write_text(project_makefile(sorted(self.files), self.prefix))
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


def load(directory: str | os.PathLike) -> CompiledModel:
    """Bring back a project written by `CompiledModel.save`, rebuilt from its own sources."""
    directory = Path(directory)
    manifest_path = directory / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{directory} is not an edgelower project (no manifest.json); "
                                "write one with CompiledModel.save() or `edgelower compile -o DIR`")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("edgelower_manifest") != MANIFEST_VERSION:
        raise ValueError(f"{manifest_path}: unsupported manifest version {manifest.get('edgelower_manifest')!r}")
    files = {name: (directory / name).read_text() for name in manifest["files"]}
    spec = lambda d: IOSpec(d["name"], tuple(d["shape"]), d["dtype"])  # noqa: E731
    model = CompiledModel(files, [spec(d) for d in manifest["inputs"]], [spec(d) for d in manifest["outputs"]],
                          Report.from_dict(manifest["report"]), get_target(manifest["target"]), manifest["prefix"])
    model.build()
    return model
