"""MLIR text -> an IREE .vmfb (`compile_vmfb`, cached by content), and a .vmfb run by iree.runtime (`IreeModule`).

The cache key is the sha256 of the MLIR text, the HAL target backend, the flags and the compiler's version; entries
live beside the C backend's builds (`~/.cache/edgelower/iree` or `$EDGELOWER_CACHE/iree`) and land by atomic
rename, so concurrent compiles of one key (pytest-xdist) are safe.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from edgelower.errors import BuildError, ExecutionError
from edgelower.runtime.loader import cache_root

from edgelower.backends.mlir.bindings import require_compiler, require_runtime
from edgelower.backends.mlir.settings import ENTRY, IreeSettings


@functools.lru_cache(maxsize=None)
def compiler_version() -> str:
    try:
        return importlib.metadata.version("iree-base-compiler")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def cache_key(text: str, settings: IreeSettings) -> str:
    h = hashlib.sha256()
    for part in (compiler_version(), settings.hal_backend, *settings.flags, text):
        data = part.encode()
        h.update(len(data).to_bytes(8, "little") + data)
    return h.hexdigest()[:24]


def compile_vmfb(text: str, settings: IreeSettings) -> bytes:
    """The .vmfb of `text` for `settings` (from the cache when it was compiled before)."""
    path = cache_root() / "iree" / f"{cache_key(text, settings)}.vmfb"
    if path.is_file():
        return path.read_bytes()
    compiler = require_compiler()
    try:
        vmfb = compiler.compile_str(text, target_backends=[settings.hal_backend], extra_args=list(settings.flags))
    except compiler.CompilerToolError as e:
        raise BuildError(f"iree-compile ({settings.hal_backend}, {' '.join(settings.flags)}) failed:\n{e}") from e
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(vmfb)
    os.replace(tmp, path)
    return vmfb


@functools.lru_cache(maxsize=None)
def _config(driver: str):
    """One runtime configuration (instance and device) per driver, shared by every module of the process."""
    runtime = require_runtime()
    return runtime.Config(driver)


class IreeModule:
    """A loaded .vmfb: `run(arrays) -> arrays` through its `main` function on `settings.driver`'s device."""

    def __init__(self, vmfb: bytes, settings: IreeSettings, target_name: str):
        runtime = require_runtime()
        try:
            config = _config(settings.driver)
        except Exception as e:  # iree.runtime raises RuntimeError / ValueError when no device answers
            raise ExecutionError(
                f"target {target_name!r} compiled its .vmfb for {settings.hal_backend} ({' '.join(settings.flags)}), "
                f"but running it needs {settings.device}: iree.runtime could not create a {settings.driver!r} "
                f"device here ({e}). The compiled model can be saved and run where one exists.") from e
        self._context = runtime.SystemContext(config=config)
        self._context.add_vm_module(runtime.VmModule.copy_buffer(config.vm_instance, vmfb))
        self._main = self._context.modules.module[ENTRY]

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        try:
            results = self._main(*inputs)
        except Exception as e:
            raise ExecutionError(f"the IREE module failed while running: {e}") from e
        results = results if isinstance(results, (tuple, list)) else [results]
        return [np.asarray(r.to_host() if hasattr(r, "to_host") else r) for r in results]
