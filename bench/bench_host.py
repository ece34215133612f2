"""Per zoo model: compile time, generated code and weight size, host latency of the generated C vs PyTorch eager.

Both sides run on one thread; latency is the median of repeated runs after a warm-up. The C side is timed through
the Python call (`CompiledModel.run_numpy`: input copy, ctypes call, output copy), so it includes that overhead.

    .venv/bin/python bench/bench_host.py [--models ds-cnn,resnet8] [--repeats 50]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time

import numpy as np
import torch

import edgelower
from edgelower import zoo

DEFAULT_SKIP = {"mbv2-w1.0-r224"}  # ~300 M MACs: run it explicitly with --models


def median_seconds(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def text_bytes(library) -> int:
    """The .text size of the built shared library (model code + runtime kernels)."""
    out = subprocess.run(["size", "-A", str(library)], capture_output=True, text=True, check=True).stdout
    return sum(int(line.split()[1]) for line in out.splitlines() if line.startswith(".text"))


def bench(name: str, repeats: int) -> dict:
    model, example = zoo.get(name)
    start = time.perf_counter()
    cm = edgelower.compile(model, example)
    compile_s = time.perf_counter() - start
    arrays = [x.numpy() for x in example]
    with torch.no_grad():
        expected = model(*example)
    expected = expected if isinstance(expected, (tuple, list)) else (expected,)
    got = cm.run_numpy(arrays)
    err = max(float(np.abs(g - e.numpy()).max() / max(np.abs(e.numpy()).max(), 1e-12)) for g, e in zip(got, expected))
    c_s = median_seconds(lambda: cm.run_numpy(arrays), repeats)
    with torch.no_grad():
        torch_s = median_seconds(lambda: model(*example), repeats)
    return {"model": name, "macs": cm.report.macs, "compile_s": compile_s,
            "source_bytes": sum(len(t.encode()) for t in cm.files.values()),
            "text_bytes": text_bytes(cm.artifact.library), "weight_bytes": cm.report.weight_bytes,
            "arena_bytes": cm.report.arena_bytes, "c_ms": c_s * 1e3, "torch_ms": torch_s * 1e3, "rel_err": err}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(n for n in zoo.names() if n not in DEFAULT_SKIP))
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = [bench(name, args.repeats) for name in args.models.split(",")]
    head = (f"| model | MACs | compile s | C source B | .text B | weights B | arena B | C ms | PyTorch ms "
            f"| PyTorch / C | max rel err |")
    print(head)
    print("|---|" + "---:|" * 10)
    for r in rows:
        print(f"| {r['model']} | {r['macs']:,} | {r['compile_s']:.2f} | {r['source_bytes']:,} | {r['text_bytes']:,} "
              f"| {r['weight_bytes']:,} | {r['arena_bytes']:,} | {r['c_ms']:.3f} | {r['torch_ms']:.3f} "
              f"| {r['torch_ms'] / r['c_ms']:.2f}x | {r['rel_err']:.1e} |")


if __name__ == "__main__":
    main()
