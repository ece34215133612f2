"""Building a lowered module with TVM, cached by content like the C backend's builds (runtime/loader.py).

The key is the sha256 of the module text, the weights, the TVM target, the options and TVM's version; the cache
entry is a folder holding the exported library (`model.so`, weights bound in) and, for CUDA, the kernels' source.
Entries land by atomic rename, so concurrent builds of one key (pytest-xdist) are safe. TVM is imported here and
in the other modules that build or run, never when edgelower is imported.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from edgelower.backends.tvm.lower import LoweredModule
from edgelower.backends.tvm.settings import INSTALL_HINT, TvmOptions, TvmSettings
from edgelower.errors import TargetError
from edgelower.runtime.loader import cache_root

LIBRARY = "model.so"
CUDA_SOURCE = "kernels.cu"
# Bumped when the way a build is made changes (pipeline, guarded rules), so that old cache entries are not reused.
BUILD_FORMAT = 1


def import_tvm():
    """TVM, or a TargetError naming the extra that installs it."""
    try:
        import tvm
        from tvm import relax  # noqa: F401 - the Relax VM and compiler live here
    except ImportError as e:
        raise TargetError(f"the TVM backend needs Apache TVM, which is not installed ({e}): {INSTALL_HINT}") from None
    return tvm


@dataclass(frozen=True)
class Built:
    """A cache entry: the library, and for CUDA the source of its kernels."""

    folder: Path

    @property
    def library(self) -> Path:
        return self.folder / LIBRARY

    @property
    def cuda_source(self) -> str | None:
        path = self.folder / CUDA_SOURCE
        return path.read_text() if path.exists() else None


def cache_key(lowered: LoweredModule, settings: TvmSettings, options: TvmOptions) -> str:
    tvm = import_tvm()
    h = hashlib.sha256()
    for part in (lowered.text, json.dumps([settings.target, settings.host, asdict(options)], sort_keys=True),
                 tvm.__version__, str(BUILD_FORMAT)):
        data = part.encode()
        h.update(len(data).to_bytes(8, "little") + data)
    for name, array in lowered.params.items():
        h.update(name.encode() + b"\0" + str(array.dtype).encode() + str(array.shape).encode() + array.tobytes())
    return h.hexdigest()[:24]


def build_library(lowered: LoweredModule, settings: TvmSettings, options: TvmOptions) -> Built:
    """The exported library of `lowered` for `settings`' target, from the cache or compiled now."""
    folder = cache_root() / f"tvm-{cache_key(lowered, settings, options)}"
    if (folder / LIBRARY).exists():
        return Built(folder)
    executable = compile_module(lowered, settings, options)
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        executable.export_library(str(work / LIBRARY))
        if settings.is_gpu:
            from edgelower.backends.tvm.cuda import cuda_source

            (work / CUDA_SOURCE).write_text(cuda_source(executable))
        try:
            os.rename(work, folder)
        except OSError:  # another process built the same key first
            pass
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Built(folder)


def compile_module(lowered: LoweredModule, settings: TvmSettings, options: TvmOptions):
    """tvm.compile of the module with its weights bound: LLVM for the CPU, the checked CUDA pipeline for a GPU."""
    tvm = import_tvm()
    from tvm import relax

    params = {name: tvm.runtime.tensor(array) for name, array in lowered.params.items()}
    module = relax.transform.BindParams("main", params)(lowered.module)
    target = tvm.target.Target(settings.target, host=settings.host) if settings.host else \
        tvm.target.Target(settings.target)
    if options.tune_trials:
        from edgelower.backends.tvm.tune import tune

        module = tune(module, target, options.tune_trials, settings.is_gpu)
    pipeline = "default"
    if settings.is_gpu:
        from edgelower.backends.tvm.cuda import cuda_pipeline

        pipeline = cuda_pipeline(target)
    return tvm.compile(module, target=target, relax_pipeline=pipeline)
