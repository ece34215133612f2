"""CUDA: TVM's CUDA pipeline with dlight's default schedules, the check that every kernel really runs on the GPU,
the CUDA source of a build, and nvcc's verdict on it where no GPU is present.

Why the pipeline is spelled out (shared notes, probes §1(b), measured on TVM 0.27):
- without a schedule a PrimFunc compiles "successfully" into host code that would run on the CPU against device
  pointers; nothing warns. `require_gpu_kernels` therefore refuses any PrimFunc left without thread bindings,
  naming it;
- dlight's Matmul rule raises on a convolution fused with integer requantization ("The block no longer exists in
  the IRModule"); each rule is therefore guarded, so that a rule that fails on a function counts as not applicable
  and the next rule (GEMV, Reduction, GeneralReduction, Fallback) schedules it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgelower.errors import BuildError

DLIGHT_RULES = ("Matmul", "GEMV", "Reduction", "GeneralReduction", "Fallback")


def gpu_available() -> bool:
    """Whether TVM sees a CUDA device here (False without a GPU or without its driver, libcuda)."""
    import tvm

    return bool(tvm.cuda(0).exist)


def _guarded(rule):
    from tvm.s_tir.dlight.base import ScheduleRule

    class Guarded(ScheduleRule):
        def apply(self, func, target, tunable):
            try:
                return rule.apply(func, target, tunable)
            except Exception:  # noqa: BLE001 - a rule that cannot schedule a function does not apply to it
                return None

        def is_target_available(self, target) -> bool:
            return rule.is_target_available(target)

    Guarded.__name__ = f"Guarded{type(rule).__name__}"
    return Guarded()


def require_gpu_kernels():
    """A module pass: every PrimFunc must bind loops to GPU threads, or the build stops naming those that do not."""
    import tvm

    @tvm.transform.module_pass(opt_level=0, name="RequireGpuKernels")
    def check(mod, _ctx):
        host = [gv.name_hint for gv, func in mod.functions_items()
                if isinstance(func, tvm.tirx.PrimFunc) and "thread_binding" not in func.script()]
        if host:
            raise BuildError(f"{len(host)} kernel(s) got no GPU schedule and would run on the host against device "
                             f"memory: {', '.join(sorted(host))}")
        return mod

    return check


def cuda_pipeline(target):
    """TVM's default CUDA pipeline (relax/backend/cuda/pipeline.py) with guarded dlight rules and the GPU check."""
    import tvm
    from tvm import relax
    from tvm.relax.backend.cuda import pipeline as cuda
    from tvm.s_tir import dlight

    rules = [_guarded(getattr(dlight.gpu, name)()) for name in DLIGHT_RULES]
    legalize = [relax.transform.LegalizeOps(), relax.transform.AnnotateTIROpPattern(), relax.transform.FoldConstant(),
                relax.transform.FuseOps(), relax.transform.FuseTIR(), dlight.ApplyDefaultSchedule(*rules),
                require_gpu_kernels()]

    @tvm.transform.module_pass(opt_level=0, name="EdgelowerCudaPipeline")
    def pipeline(mod, _ctx):
        with target:
            passes = (cuda.library_dispatch_passes(target) + legalize + cuda.dataflow_lower_passes(target)
                      + cuda.finalize_passes(target))
            return tvm.transform.Sequential(passes)(mod)

    return pipeline


def cuda_source(executable) -> str:
    """The CUDA C of a built executable (relax.VMExecutable -> llvm host module -> cuda module)."""
    def walk(module):
        yield module
        for imported in module.imports:
            yield from walk(imported)

    sources = [m.inspect_source() for m in walk(executable.mod) if m.kind == "cuda"]
    if not sources:
        raise BuildError("the CUDA build produced no CUDA module: no kernel landed on the GPU")
    return "\n".join(sources)


def kernel_names(source: str) -> list[str]:
    """The __global__ functions of a CUDA source, each once (TVM declares them before defining them)."""
    return sorted(set(re.findall(r"__global__ void (?:__launch_bounds__\(\d+\) )?(\w+)\(", source)))


@dataclass(frozen=True)
class NvccCheck:
    """nvcc's compilation of a CUDA source to a cubin for one architecture, and what its PTX holds."""

    arch: str
    cubin_bytes: int
    ptx_dp4a: dict[str, int]    # kernel -> dp4a instructions in its PTX (kernels with none left out)
    kernels: int

    def to_dict(self) -> dict:
        return {"arch": self.arch, "cubin_bytes": self.cubin_bytes, "kernels": self.kernels,
                "ptx_dp4a": dict(sorted(self.ptx_dp4a.items()))}


def nvcc_path() -> str | None:
    return shutil.which("nvcc")


def nvcc_check(source: str, arch: str, cache: Path) -> NvccCheck:
    """Compile `source` with `nvcc -cubin -arch=<arch>` (keeping the PTX it passes through), cached by content."""
    nvcc = nvcc_path()
    if nvcc is None:
        raise BuildError("nvcc not found on PATH: install the CUDA toolkit to check the CUDA source without a GPU")
    key = hashlib.sha256(f"{arch}\0{source}\0{_nvcc_version(nvcc)}".encode()).hexdigest()[:24]
    folder = cache / f"nvcc-{key}"
    if not (folder / "kernels.cubin").exists():
        _run_nvcc(nvcc, source, arch, folder)
    ptx = (folder / "kernels.ptx").read_text()
    return NvccCheck(arch, (folder / "kernels.cubin").stat().st_size, _dp4a_per_kernel(ptx),
                     len(kernel_names(source)))


def _nvcc_version(nvcc: str) -> str:
    return subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout


def _run_nvcc(nvcc: str, source: str, arch: str, folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        (work / "kernels.cu").write_text(source)
        cmd = [nvcc, "-cubin", f"-arch={arch}", "--keep", "--keep-dir", str(work), "kernels.cu", "-o", "kernels.cubin"]
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"nvcc rejected the CUDA source for {arch}:\n$ {' '.join(cmd)}\n"
                             f"{proc.stdout}{proc.stderr}")
        (work / "kernels.ptx").write_text(next(work.glob("*.ptx")).read_text())
        try:
            os.rename(work, folder)
        except OSError:  # another process finished the same check first
            pass
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _dp4a_per_kernel(ptx: str) -> dict[str, int]:
    counts = {}
    for name, body in re.findall(r"\.entry (\w+)\((.*?)\n}", ptx, flags=re.S):
        n = body.count("dp4a")
        if n:
            counts[name] = n
    return counts
