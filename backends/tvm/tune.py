"""MetaSchedule tuning, the `tune_trials` option: TVM's static-shape tuning pipeline (legalize, fuse, then at most
`trials` measured candidates over all kernels) before the ordinary build, which keeps what tuning scheduled. The
candidates are measured on the target itself, so a cuda target can only be tuned where its GPU is."""

from __future__ import annotations

import importlib.util
import tempfile

from edgelower.errors import TargetError

# What MetaSchedule imports when it searches: psutil (its CPU count) and xgboost (its default cost model).
TUNING_PACKAGES = ("psutil", "xgboost")


def missing_tuning_packages() -> list[str]:
    return [name for name in TUNING_PACKAGES if importlib.util.find_spec(name) is None]


def tune(module, target, trials: int, on_gpu: bool):
    """`module` with its kernels scheduled by MetaSchedule (database in a temporary directory)."""
    from tvm import relax

    from edgelower.backends.tvm.cuda import gpu_available

    if on_gpu and not gpu_available():
        raise TargetError("tune_trials > 0 measures candidate kernels on the GPU, and this machine has none (no CUDA "
                          "device or driver); tune where the GPU is, or compile with tune_trials=0 (dlight rules)")
    missing = missing_tuning_packages()
    if missing:
        raise TargetError(f"tune_trials > 0 runs TVM MetaSchedule, which needs {' and '.join(missing)}: pip install "
                          f"{' '.join(missing)}, or compile with tune_trials=0 (TVM's default schedules)")
    with tempfile.TemporaryDirectory(prefix="edgelower-tune-") as work_dir:
        pipeline = relax.pipeline.static_shape_tuning_pipeline(total_trials=trials, target=target, work_dir=work_dir,
                                                               max_trials_per_task=trials)
        return pipeline(module)
