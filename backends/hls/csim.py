"""C-simulation: the generated HLS C++ and its testbench built with g++ against the ap_types headers (from the
`hls4ml` package, the `hls` extra, or a Vitis HLS installation), cached by content hash, and run on raw tensors.

The cache key is the sha256 of the generated files, the kernel headers, the flags, the compiler's version and the
ap_types headers' location; the build lands by atomic rename, so concurrent builds of one key are safe. Nothing is
written before the headers are found.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Mapping

from edgelower.errors import BuildError
from edgelower.runtime import RUNTIME_DIR

HLS_DIR = RUNTIME_DIR / "hls"
# -Wno-unknown-pragmas and -Wno-unused-label: g++ does not know `#pragma HLS` nor that loop labels name loops in
# Vitis reports. The ap_types headers are a system include: their own warnings are not ours; the one that still
# surfaces after inlining, -W(maybe-)uninitialized on ap_private::clearUnusedBits, which every ap_int constructor
# calls on its not yet assigned value, is theirs too.
WARNINGS = ("-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas", "-Wno-unused-label", "-Wno-uninitialized",
            "-Wno-maybe-uninitialized")
CXXFLAGS = ("-std=c++14", "-O2", *WARNINGS)
# Sanitized builds are C++20, where shifting a negative value left is defined: the ap_types headers do it in every
# ap_int constructor (ap_private::clearUnusedBits), which C++14 leaves undefined and UBSan would report.
SANITIZE_CXXFLAGS = ("-std=c++20", "-O1", "-g", "-fno-omit-frame-pointer", *WARNINGS, "-fsanitize=address,undefined",
                     "-fno-sanitize-recover=all")
CXX = os.environ.get("CXX", "g++")


class HlsToolError(BuildError):
    """What C-simulation needs is missing here (the ap_types headers, a C++ compiler)."""


def ap_types_dir() -> Path:
    """Where ap_int.h and hls_stream.h are: $EDGELOWER_AP_TYPES, a Vitis HLS installation ($XILINX_HLS/include),
    or the copy the hls4ml package ships."""
    candidates = []
    if os.environ.get("EDGELOWER_AP_TYPES"):
        candidates.append(Path(os.environ["EDGELOWER_AP_TYPES"]))
    if os.environ.get("XILINX_HLS"):
        candidates.append(Path(os.environ["XILINX_HLS"]) / "include")
    spec = importlib.util.find_spec("hls4ml")
    if spec is not None and spec.submodule_search_locations:
        candidates.append(Path(list(spec.submodule_search_locations)[0]) / "templates" / "vivado" / "ap_types")
    for folder in candidates:
        if (folder / "ap_int.h").is_file() and (folder / "hls_stream.h").is_file():
            return folder
    looked = ", ".join(str(c) for c in candidates) or "nowhere (no EDGELOWER_AP_TYPES, XILINX_HLS or hls4ml)"
    raise HlsToolError("C-simulation needs the ap_types headers (ap_int.h, hls_stream.h) and found none; looked in "
                       f"{looked}. Install them with `pip install 'edgelower[hls]'` (hls4ml ships them), or set "
                       "EDGELOWER_AP_TYPES (or XILINX_HLS) to a Vitis HLS include folder. Nothing was written.")


@functools.lru_cache(maxsize=None)
def compiler_version(cxx: str = CXX) -> str:
    try:
        return subprocess.run([cxx, "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise HlsToolError(f"C++ compiler {cxx!r} is not usable ({e}); install g++ (Debian: apt-get install g++), "
                           "or set CXX") from e


def kernel_headers() -> dict[str, str]:
    return {f"hls/{p.name}": p.read_text() for p in sorted(HLS_DIR.glob("*.h"))}


def _digest(files: Mapping[str, str | bytes], *parts: str) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        data = files[name]
        data = data.encode() if isinstance(data, str) else data
        h.update(name.encode() + b"\0" + len(data).to_bytes(8, "little") + data)
    for part in parts:
        h.update(b"/" + part.encode())
    return h.hexdigest()[:24]


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def build_csim(files: Mapping[str, str | bytes], prefix: str, sanitize: bool = False) -> Path:
    """The testbench executable of the generated files (cached by content); BuildError carries g++'s output."""
    from edgelower.runtime.loader import cache_root

    ap_types = ap_types_dir()
    flags = SANITIZE_CXXFLAGS if sanitize else CXXFLAGS
    headers = kernel_headers()
    key = _digest({**files, **headers}, *flags, compiler_version(), str(ap_types))
    folder = cache_root() / f"hls-{key}"
    exe = folder / "csim"
    if exe.exists():
        return exe
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in sorted({**files, **headers}.items()):
        _write_atomic(folder / name, data.encode() if isinstance(data, str) else data)
    sources = [f"{prefix}.cpp", f"{prefix}_test.cpp"]
    link = ("-fsanitize=address,undefined",) if sanitize else ()
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".csim.")
    os.close(fd)
    cmd = [CXX, *flags, "-isystem", str(ap_types), "-Ihls", "-I.", *sources, *link, "-o", tmp]
    try:
        proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"HLS C-simulation build failed in {folder}:\n$ {' '.join(cmd)}\n{proc.stdout}"
                             f"{proc.stderr}")
        os.replace(tmp, exe)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return exe
