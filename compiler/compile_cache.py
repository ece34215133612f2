"""Recompiling an unchanged model skips render and build: emitted artifacts are kept by content.

`emit_cached(backend, request)` returns the Artifact that `backend.emit(request)` would, from the cache when the
same request was emitted before, by any process. Its key is the sha256 of
- the planned Schedule, or the Graph for backends that plan their own memory: every node (op, operands, frozen
  attributes, source line), every value's type, every buffer's lifetime and arena offset, every constant's bytes;
- the backend, its options, the target row (compiler, flags, machine) and the symbol prefix;
- edgelower itself: its version and the digest of its Python and runtime sources (a changed kernel, pass or
  renderer is a new key, released or not).
The compiler is not in the key: the artifact's own build is cached by the generated files, flags and the
compiler's `--version` (runtime/loader.py, runtime/cortex_m.py), so after a hit, `build()` finds its objects
without running the compiler, and a new compiler rebuilds from the cached sources.

An entry is a folder of the generated files and the manifest the backend's `load` reads (a saved project
without the runtime), under the build cache (`$EDGELOWER_CACHE`, else `~/.cache/edgelower`). It appears by one
atomic rename of a complete folder, so concurrent compilations of the same model (pytest-xdist) are safe: the
first rename wins and the others' folders are dropped. `EDGELOWER_COMPILE_CACHE=0` turns the cache off.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import fields as dataclass_fields, is_dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from edgelower.backends.artifact import write_files
from edgelower.ir.graph import Graph
from edgelower.ir.schedule import Schedule


def enabled() -> bool:
    return os.environ.get("EDGELOWER_COMPILE_CACHE", "1") not in ("0", "")


@functools.lru_cache(maxsize=None)
def edgelower_digest() -> str:
    """sha256 of edgelower's version and every source it runs from: Python, and the runtime's C and linker files."""
    import edgelower
    import edgelower.backends
    import edgelower.passes
    import edgelower.runtime

    h = hashlib.sha256(edgelower.__version__.encode())
    for package in (edgelower, edgelower.passes, edgelower.backends, edgelower.runtime):
        root = Path(package.__file__).parent
        for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".c", ".h", ".ld", ".S")):
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def stable_repr(value) -> str:
    """repr with sets sorted and dataclasses spelled field by field: the same text in every process (a frozenset's
    own repr follows string hashing, which PYTHONHASHSEED changes)."""
    if is_dataclass(value) and not isinstance(value, type):
        fields = ", ".join(f"{f.name}={stable_repr(getattr(value, f.name))}" for f in dataclass_fields(value))
        return f"{type(value).__name__}({fields})"
    if isinstance(value, (set, frozenset)):
        return "{" + ", ".join(sorted(map(stable_repr, value))) + "}"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{stable_repr(k)}: {stable_repr(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(map(stable_repr, value)) + ")"
    return repr(value)


def _graph_digest(h, graph: Graph) -> None:
    # Plain repr: node attributes are plain data and sorted (ir/graph.py: freeze), types keep insertion order, so
    # the text is the same in every process, and it is ten times faster than stable_repr on large graphs.
    h.update(repr((graph.name, graph.inputs, graph.outputs, graph.nodes, list(graph.types.items()))).encode())
    for name, data in graph.constants.items():
        array = np.ascontiguousarray(data)
        h.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        if array.size:  # memoryview cannot cast an empty array
            h.update(memoryview(array).cast("B"))


def request_key(backend, request) -> str:
    """The cache key of an EmitRequest (see the module docstring)."""
    h = hashlib.sha256()
    h.update(stable_repr((backend.name, request.prefix, request.options, request.target)).encode())
    h.update(edgelower_digest().encode())
    schedule: Schedule | None = request.schedule
    _graph_digest(h, schedule.graph if schedule is not None else request.graph)
    if schedule is not None:
        h.update(repr((schedule.kernels, list(schedule.buffers.values()), schedule.arena_bytes,
                       schedule.alignment)).encode())
    return h.hexdigest()[:32]


def emit_cached(backend, request):
    """(artifact, True when it came from the cache)."""
    if not enabled() or not backend.reloads_from_files:
        return backend.emit(request), False
    from edgelower.runtime.loader import cache_root

    folder = cache_root() / f"emitted-{request_key(backend, request)}"
    manifest_path = folder / "manifest.json"
    if manifest_path.is_file():
        return backend.load(folder, json.loads(manifest_path.read_text()), request.target), True
    artifact = backend.emit(request)
    _store(folder, artifact)
    return artifact, False


def _store(folder: Path, artifact) -> None:
    manifest = {**artifact.spec.to_dict(), "files": sorted(artifact.files), **artifact.manifest()}
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        write_files(staging, artifact.files)
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
        os.rename(staging, folder)
    except OSError:
        if not (folder / "manifest.json").is_file():  # not a lost race: a real failure (disk full, permissions)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
