"""What a backend's `emit` returns: an Artifact — generated files, the I/O signature, and how to build, run and save it.

CompiledModel (edgelower.compiled) holds one and delegates to it: `cm(x)` runs it, `cm.save(dir)` asks it for its
project files, `edgelower.load(dir)` asks its backend to bring it back. A C library, a TVM module, an HLS project
and an IREE .vmfb are each an Artifact of their own backend.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from edgelower.ir.graph import Graph
from edgelower.ir.names import sanitize


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float | None = None       # int8 interface values: real = (q - zero_point) * scale
    zero_point: int | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": np.dtype(self.dtype).name,
                **({"scale": self.scale, "zero_point": self.zero_point} if self.scale is not None else {})}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TensorSpec":
        return cls(d["name"], tuple(d["shape"]), np.dtype(d["dtype"]), d.get("scale"), d.get("zero_point"))


@dataclass(frozen=True)
class IOSpec:
    """What a built model takes and gives, in order, and the symbol prefix of its API."""

    prefix: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @classmethod
    def from_graph(cls, graph: Graph, prefix: str = "model") -> "IOSpec":
        types = graph.types

        def spec(name: str) -> TensorSpec:
            q = types[name].qparams
            scale, zp = (q.scale[0], q.zero_point[0]) if q is not None and len(q.scale) == 1 else (None, None)
            return TensorSpec(name, types[name].shape, types[name].dtype.numpy, scale, zp)

        return cls(sanitize(prefix), tuple(map(spec, graph.inputs)), tuple(map(spec, graph.outputs)))

    def to_dict(self) -> dict:
        return {"prefix": self.prefix, "inputs": [s.to_dict() for s in self.inputs],
                "outputs": [s.to_dict() for s in self.outputs]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "IOSpec":
        return cls(d["prefix"], tuple(map(TensorSpec.from_dict, d["inputs"])),
                   tuple(map(TensorSpec.from_dict, d["outputs"])))

    def check_inputs(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The inputs as contiguous arrays, after checking their count, shapes and dtypes against the signature."""
        if len(inputs) != len(self.inputs):
            names = ", ".join(f"{s.name}: {np.dtype(s.dtype).name}{list(s.shape)}" for s in self.inputs)
            raise ValueError(f"the model takes {len(self.inputs)} input(s) ({names}), got {len(inputs)}")
        arrays = []
        for s, x in zip(self.inputs, inputs):
            a = np.asarray(x, order="C")  # not ascontiguousarray, which makes a 0-d array 1-d
            if a.shape != s.shape or a.dtype != s.dtype:
                raise ValueError(f"input %{s.name}: expected {s.dtype}{list(s.shape)}, got {a.dtype}{list(a.shape)}")
            arrays.append(a)
        return arrays


class Artifact(abc.ABC):
    """The output of one backend for one model. `files` are the generated sources (relative path -> text or
    bytes), deterministic for the same model and options."""

    def __init__(self, files: Mapping[str, str | bytes], spec: IOSpec):
        self.files, self.spec = dict(files), spec

    @abc.abstractmethod
    def build(self) -> None:
        """Make the artifact runnable here (compile, cached by content where it costs), or raise a clear error
        that says why it cannot run on this machine."""

    @abc.abstractmethod
    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Arrays in (checked against `spec`), arrays out. Builds first when needed."""

    def report_fields(self) -> dict:
        """Report fields known once built (flash and SRAM from an ELF, instruction counts, resource estimates)."""
        return {}

    def project_files(self) -> Mapping[str, str | bytes]:
        """Everything a saved project holds besides the generated files: runtime sources, build scripts."""
        return {}

    def manifest(self) -> dict:
        """Backend-specific manifest entries, read back by the backend's `load`."""
        return {}


def write_files(directory: Path, files: Mapping[str, str | bytes]) -> None:
    """Write relative paths under `directory`, creating folders, text or bytes as given (sorted: deterministic)."""
    for name, data in sorted(files.items()):
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)
