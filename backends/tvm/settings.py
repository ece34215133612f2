"""The TVM backend's own target settings (the row of the targets table) and compile options (`edgelower.compile(...,
tune_trials=N)`): plain data, importable without TVM."""

from __future__ import annotations

from dataclasses import dataclass

INSTALL_HINT = "pip install 'edgelower[tvm]'"


@dataclass(frozen=True)
class TvmSettings:
    """kind "llvm": compiled by LLVM for this CPU and run by the Relax VM in this process. kind "cuda": TVM's CUDA
    pipeline (dlight default schedules) for GPU architecture `arch` (sm_80, sm_90, ...), host code by LLVM; it runs
    where a GPU and its driver exist, and elsewhere compiles to CUDA source that nvcc must accept."""

    kind: str
    arch: str | None = None

    def __post_init__(self):
        if self.kind not in ("llvm", "cuda") or (self.kind == "cuda") != (self.arch is not None):
            raise ValueError(f"TvmSettings(kind={self.kind!r}, arch={self.arch!r}): llvm without arch, or cuda "
                             "with one")

    @property
    def target(self) -> dict:
        """TVM's target, as the JSON dict form TVM 0.27 wants (its CLI string form with options is gone)."""
        if self.kind == "llvm":
            return {"kind": "llvm"}
        return {"kind": "cuda", "arch": self.arch}

    @property
    def host(self) -> dict | None:
        return {"kind": "llvm"} if self.kind == "cuda" else None

    @property
    def is_gpu(self) -> bool:
        return self.kind == "cuda"

    @property
    def runs_on(self) -> str:
        if self.kind == "llvm":
            return "this machine (Relax VM)"
        return f"an NVIDIA GPU ({self.arch}); elsewhere CUDA source checked by nvcc"

    @property
    def needs(self) -> str:
        tvm = f"apache-tvm ({INSTALL_HINT})"
        return tvm if self.kind == "llvm" else f"{tvm}; a GPU and its driver to run, nvcc to check the source"

    @property
    def in_process(self) -> bool:
        """The Relax VM runs in this process, so torch.compile may call PyTorch between compiled regions."""
        return True


@dataclass(frozen=True)
class TvmOptions:
    """Compile options of the TVM backend. `tune_trials`: 0 (default) uses TVM's default schedules (dlight rules on
    a GPU, LLVM's loops on a CPU); N > 0 runs MetaSchedule with at most N measured trials in all (on this
    machine's CPU, or on the GPU of a cuda target, which must exist), trading compile time for speed."""

    tune_trials: int = 0

    def __post_init__(self):
        if not isinstance(self.tune_trials, int) or isinstance(self.tune_trials, bool) or self.tune_trials < 0:
            raise ValueError(f"tune_trials={self.tune_trials!r}; give 0 (default schedules) or a positive number "
                             "of MetaSchedule trials")
