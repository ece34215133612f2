"""Per zoo model on this CPU: IREE (the iree-cpu target) in float32 and int8 beside PyTorch eager, edgelower's C
(the host target) and, where the `tvm` extra imports and a tvm-cpu target exists, TVM; IREE's compile time (cold
cache); and torch-mlir's own path to IREE as the float peer: `torch_mlir.fx.export_and_import(model, x,
output_type="linalg-on-tensors")`, compiled with the same iree-compile flags and run the same way.

Everything runs on one thread (torch.set_num_threads(1); IREE's local-sync driver; the C and TVM builds are single
threaded). Latency is the median of repeated calls after a warm-up, each through Python (`run_numpy`, or the
IREE function call for torch-mlir), so every column includes a call's overhead. int8 models are calibrated on 8
random inputs; their inputs are int8 arrays. Compile time is edgelower.compile's wall time (capture, passes,
export, iree-compile) with an empty build cache; torch-mlir's is export_and_import plus iree-compile.

    .venv/bin/python bench/bench_mlir.py [--models lenet5,ds-cnn] [--repeats 30]
    (torch-mlir: pip install torch-mlir; the column says why where it cannot run)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

import edgelower
from edgelower import zoo
from edgelower.compiled import quantize_with
from edgelower.errors import EdgelowerError
from edgelower.targets import TARGETS

from bench_host import median_seconds  # bench/ is the script's directory, first on sys.path

DEFAULT_SKIP = {"mbv2-w1.0-r224"}  # ~300 M MACs: run it explicitly with --models
CALIBRATION = 8


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def compile_pair(model, example, target: str, calibration):
    """(float CompiledModel, float compile s, int8 CompiledModel, int8 compile s) for `target`."""
    cm_f, f_s = timed(lambda: edgelower.compile(model, example, target=target))
    cm_q, q_s = timed(lambda: edgelower.compile(model, example, target=target, quantize="int8",
                                                calibration=calibration))
    return cm_f, f_s, cm_q, q_s


def latency_ms(cm, inputs, repeats: int) -> float:
    return 1e3 * median_seconds(lambda: cm.run_numpy(inputs), repeats)


def tvm_target() -> str | None:
    """The TVM CPU target where the tvm extra is installed and a backend renders it."""
    if "tvm-cpu" not in TARGETS:
        return None
    try:
        import tvm  # noqa: F401
    except ImportError:
        return None
    return "tvm-cpu"


def torch_mlir_peer(model, example, repeats: int) -> tuple[float | None, float | None, str]:
    """(latency ms, compile s, note): torch-mlir's linalg-on-tensors compiled and run by IREE like iree-cpu."""
    try:
        from torch_mlir import fx
    except ImportError:
        return None, None, "torch-mlir: not installed (pip install torch-mlir)"
    from edgelower.backends.mlir.vmfb import IreeModule, compile_vmfb

    settings = TARGETS["iree-cpu"].settings
    try:
        start = time.perf_counter()
        module = fx.export_and_import(model, *example, output_type="linalg-on-tensors", func_name="main")
        runner = IreeModule(compile_vmfb(str(module), settings), settings, "torch-mlir")
        seconds = time.perf_counter() - start
    except Exception as e:  # an op torch-mlir or IREE does not take: the table says which
        return None, None, f"torch-mlir: {type(e).__name__}: {str(e).splitlines()[0][:60]}"
    inputs = [x.numpy() for x in example]
    return 1e3 * median_seconds(lambda: runner.run(inputs), repeats), seconds, ""


def bench(name: str, repeats: int) -> dict:
    torch.manual_seed(0)
    model, example = zoo.get(name)
    calibration = [tuple(spec.sample() for spec in zoo.MODELS[name].inputs) for _ in range(CALIBRATION)]
    row = {"model": name, "notes": []}
    float_in = [x.numpy() for x in example]
    with torch.no_grad():
        row["eager"] = 1e3 * median_seconds(lambda: model(*example), repeats)
    targets = [("c", "host"), ("iree", "iree-cpu")] + ([("tvm", tvm_target())] if tvm_target() else [])
    for key, target in targets:
        try:
            cm_f, f_s, cm_q, q_s = compile_pair(model, example, target, calibration)
        except EdgelowerError as e:
            row["notes"].append(f"{target}: {str(e).splitlines()[0][:60]}")
            continue
        int8_in = [quantize_with(x, s) if s.scale is not None else x for x, s in zip(float_in, cm_q.inputs)]
        row.update({f"{key}_f": latency_ms(cm_f, float_in, repeats), f"{key}_q": latency_ms(cm_q, int8_in, repeats),
                    f"{key}_f_s": f_s, f"{key}_q_s": q_s, "macs": cm_f.report.macs})
        outputs = cm_q.run_numpy(int8_in)
        if key == "c":
            row["c_bytes"] = outputs
        else:  # every backend's int8 model computes the C backend's bytes
            for got, want in zip(outputs, row.get("c_bytes", outputs), strict=True):
                np.testing.assert_array_equal(got, want)
    row["tm"], row["tm_s"], note = torch_mlir_peer(model, example, repeats)
    row["notes"] += [note] if note else []
    return row


def _cell(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(n for n in zoo.names() if n not in DEFAULT_SKIP))
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.environ["EDGELOWER_CACHE"] = tempfile.mkdtemp(prefix="bench-mlir-")  # cold compiles
    rows = [bench(name, args.repeats) for name in args.models.split(",")]
    print("| model | MACs | eager ms | C float ms | C int8 ms | IREE float ms | IREE int8 ms | TVM float ms "
          "| TVM int8 ms | torch-mlir IREE ms | IREE compile s (float / int8) | torch-mlir compile s | note |")
    print("|---|" + "---:|" * 11 + "---|")
    for r in rows:
        g = r.get
        compile_s = f"{_cell(g('iree_f_s'), '.1f')} / {_cell(g('iree_q_s'), '.1f')}"
        print(f"| {r['model']} | {_cell(g('macs'), ',')} | {_cell(g('eager'), '.3f')} | {_cell(g('c_f'), '.3f')} "
              f"| {_cell(g('c_q'), '.3f')} | {_cell(g('iree_f'), '.3f')} | {_cell(g('iree_q'), '.3f')} "
              f"| {_cell(g('tvm_f'), '.3f')} | {_cell(g('tvm_q'), '.3f')} | {_cell(g('tm'), '.3f')} | {compile_s} "
              f"| {_cell(g('tm_s'), '.1f')} | {'; '.join(r['notes'])} |")


if __name__ == "__main__":
    main()
