"""Builds generated C with the host compiler and runs it: in-process through ctypes, or as a sanitizer executable.

Builds are cached by content. A model's key is the sha256 of its sources, the runtime's sources, the flags and
the compiler's `--version`; the runtime's objects are cached the same way and linked into every model, so a
model build compiles only its own files. The cache lives in `~/.cache/edgelower` or `$EDGELOWER_CACHE`. Every
file lands by atomic rename, so concurrent builds of the same key (pytest-xdist) are safe.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from edgelower.errors import BuildError, ExecutionError
from edgelower.ir.names import sanitize
from edgelower.runtime import INCLUDE_DIR, RUNTIME_DIR, SRC_DIR
from edgelower.backends.artifact import IOSpec

CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic")
SANITIZE_CFLAGS = ("-std=c99", "-O1", "-g", "-fno-omit-frame-pointer", "-Wall", "-Wextra", "-Werror", "-pedantic",
                   "-fsanitize=address,undefined", "-fno-sanitize-recover=all")
HARNESS = "main.c"  # the generated host harness; never part of the shared library

# Any sanitizer report ends the run with a non-zero status; leaks cannot happen (nothing allocates) and leak
# checking needs ptrace, which containers often deny.
_SANITIZER_ENV = {"ASAN_OPTIONS": "detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=86",
                  "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1:exitcode=87"}


def cache_root() -> Path:
    return Path(os.environ.get("EDGELOWER_CACHE") or Path.home() / ".cache" / "edgelower")


@functools.lru_cache(maxsize=None)
def compiler_version(cc: str = "cc") -> str:
    try:
        return subprocess.run([cc, "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise BuildError(f"C compiler {cc!r} is not usable ({e}); install gcc or clang, or pass cc=...") from e


def runtime_sources() -> dict[str, str]:
    files = sorted([*INCLUDE_DIR.glob("*.h"), *SRC_DIR.glob("*.h"), *SRC_DIR.glob("*.c")])
    return {str(f.relative_to(RUNTIME_DIR)): f.read_text() for f in files}


def _digest(*parts: Mapping[str, str | bytes] | Sequence[str] | str) -> str:
    """sha256 of strings (or bytes), sequences of strings and mappings (by sorted key), each length-prefixed."""
    h = hashlib.sha256()

    def feed(text: str | bytes) -> None:
        data = text.encode() if isinstance(text, str) else text
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)

    for part in parts:
        if isinstance(part, Mapping):
            for key in sorted(part):
                feed(key)
                feed(part[key])
        else:
            for text in [part] if isinstance(part, str) else part:
                feed(text)
        h.update(b"/")
    return h.hexdigest()[:24]


def _write_atomic(path: Path, data: str | bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)


def _compile(cmd: list[str], out: Path, cwd: Path) -> None:
    """Run `cmd` (which writes `-o <tmp>`) and move the result to `out`; BuildError carries the compiler output."""
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    os.close(fd)
    try:
        proc = subprocess.run(cmd + ["-o", tmp], cwd=cwd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"C build failed in {cwd}:\n$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _runtime_objects(cflags: tuple[str, ...], cc: str, pic: bool = True) -> list[Path]:
    """The runtime compiled once per (sources, flags, compiler): position-independent for shared libraries,
    plain for firmware, where -fPIC would cost a GOT indirection on every global access."""
    sources = runtime_sources()
    cflags = (*cflags, "-fPIC") if pic else tuple(cflags)
    key = _digest(sources, cflags, compiler_version(cc))
    folder = cache_root() / f"runtime-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    objects = [folder / (Path(name).stem + ".o") for name in sources if name.endswith(".c")]
    todo = [(SRC_DIR / (o.stem + ".c"), o) for o in objects if not o.exists()]
    with ThreadPoolExecutor(max_workers=max(1, min(len(todo), os.cpu_count() or 1))) as pool:
        futures = [pool.submit(_compile, [cc, *cflags, f"-I{INCLUDE_DIR}", "-c", str(src)], obj, folder)
                   for src, obj in todo]
        for f in futures:
            f.result()
    return objects


def model_sources(files: Mapping[str, str | bytes], skip: tuple[str, ...] = ()) -> list[str]:
    """The generated files a build compiles: C sources and assembler (`.S`, the weights), sorted, less `skip`."""
    return [name for name in sorted(files) if name.endswith((".c", ".S")) and name not in skip]


def _build(files: Mapping[str, str | bytes], cflags: tuple[str, ...], cc: str, kind: str, link: tuple[str, ...],
           skip: tuple[str, ...]) -> Path:
    key = _digest(files, runtime_sources(), cflags, compiler_version(cc), kind)
    folder = cache_root() / key
    out = folder / ("libmodel.so" if kind == "shared" else "model")
    if out.exists():
        return out
    runtime = _runtime_objects(cflags, cc)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(files.items()):
        _write_atomic(folder / name, text)
    sources = model_sources(files, skip)
    _compile([cc, *cflags, *link, f"-I{folder}", f"-I{INCLUDE_DIR}", *sources, *map(str, runtime), "-lm"], out,
             folder)
    return out


def build_shared_library(files: Mapping[str, str | bytes], cflags: Sequence[str] = CFLAGS, cc: str = "cc") -> Path:
    """Compile the model files (all `.c` and `.S` but the harness) with the runtime into a cached shared library."""
    return _build(files, tuple(cflags), cc, "shared", ("-fPIC", "-shared"), (HARNESS,))


def build_executable(files: Mapping[str, str | bytes], sanitize: bool = True, cc: str = "cc") -> Path:
    """Compile the model, the runtime and the `main.c` harness into a cached executable; with `sanitize`, under
    AddressSanitizer and UndefinedBehaviorSanitizer, where any report is fatal."""
    flags = SANITIZE_CFLAGS if sanitize else CFLAGS
    link = ("-fsanitize=address,undefined",) if sanitize else ()
    return _build(files, flags, cc, "executable", link, ())


# --- running ---------------------------------------------------------------------------------------------------

class HostModel:
    """A built shared library loaded with ctypes. The generated code has one static arena, so runs serialize."""

    def __init__(self, lib_path: Path | str, spec: IOSpec):
        self.spec = spec
        self._lib = ctypes.CDLL(str(lib_path))
        self._invoke = getattr(self._lib, f"{spec.prefix}_invoke")
        self._invoke.restype, self._invoke.argtypes = ctypes.c_int, []
        self._address = {}
        for kind in ("input", "output"):
            fn = getattr(self._lib, f"{spec.prefix}_{kind}")
            fn.restype, fn.argtypes = ctypes.c_void_p, [ctypes.c_int]
            self._address[kind] = fn
        self._lock = threading.Lock()

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        arrays = self.spec.check_inputs(inputs)
        with self._lock:
            for i, a in enumerate(arrays):
                ctypes.memmove(self._address["input"](i), a.ctypes.data, a.nbytes)
            status = self._invoke()
            if status != 0:
                raise ExecutionError(f"{self.spec.prefix}_invoke returned {status} (1: a gather index out of range)")
            outputs = []
            for i, s in enumerate(self.spec.outputs):
                out = np.empty(s.shape, s.dtype)
                ctypes.memmove(out.ctypes.data, self._address["output"](i), out.nbytes)
                outputs.append(out)
        return outputs

    __call__ = run


def run_executable(path: Path | str, spec: IOSpec, inputs: Sequence[np.ndarray],
                   timeout: float = 120.0) -> list[np.ndarray]:
    """Run a harness executable on raw input files and read its raw output files. Any non-zero exit, including
    a sanitizer report, raises ExecutionError with the program's stderr."""
    arrays = spec.check_inputs(inputs)
    with tempfile.TemporaryDirectory(prefix="edgelower-run-") as tmp:
        ins = [Path(tmp) / f"in{i}.bin" for i in range(len(arrays))]
        outs = [Path(tmp) / f"out{i}.bin" for i in range(len(spec.outputs))]
        for path_i, a in zip(ins, arrays):
            path_i.write_bytes(a.tobytes())
        env = {**os.environ, **_SANITIZER_ENV}
        proc = subprocess.run([str(path), *map(str, ins), *map(str, outs)], capture_output=True, text=True,
                              env=env, timeout=timeout)
        if proc.returncode != 0 or "runtime error" in proc.stderr or "Sanitizer" in proc.stderr:
            raise ExecutionError(f"{path} exited with status {proc.returncode}:\n{proc.stderr}")
        return [np.fromfile(o, dtype=s.dtype).reshape(s.shape) for o, s in zip(outs, spec.outputs)]
