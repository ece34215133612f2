"""Per zoo model on this CPU: PyTorch eager, TVM's own float path (torch.export -> `from_exported_program` -> LLVM),
edgelower `tvm-cpu` float and edgelower `tvm-cpu` int8 (integer-only, exactly the interpreter's bytes): median
latency, compile time, and each one's speed relative to PyTorch eager.

Every side runs on `--threads` threads (TVM's pool through TVM_NUM_THREADS, set before TVM is imported; PyTorch by
torch.set_num_threads) and is timed through its Python call, after a warm-up, as the median of `--repeats` runs.
edgelower compiles into a fresh build cache, so its compile times include TVM's build.

    .venv/bin/python bench/bench_tvm.py [--models mlp,lenet5,ds-cnn] [--repeats 30] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch

MODELS = ("mlp", "lenet5", "ds-cnn", "resnet8", "transformer-block")


def median_seconds(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def tvm_own_float(model, example):
    """TVM's torch frontend on the float model: the callable and its compile time (import + build)."""
    import tvm
    from tvm import relax
    from tvm.relax.frontend.torch import from_exported_program

    def build():
        program = torch.export.export(model, example)
        return tvm.compile(from_exported_program(program), target=tvm.target.Target({"kind": "llvm"}))

    executable, seconds = timed(build)
    main = relax.VirtualMachine(executable, tvm.cpu())["main"]
    arrays = [tvm.runtime.tensor(x.numpy()) for x in example]
    return (lambda: main(*arrays)), seconds


def edgelower_tvm(model, example, **quantize):
    import edgelower

    cm, seconds = timed(lambda: edgelower.compile(model, example, target="tvm-cpu", **quantize))
    arrays = [x.numpy() for x in example]
    if quantize:  # the int8 model's own inputs: quantized once, outside the timed call
        from edgelower.compiled import quantize_with

        arrays = [quantize_with(a, s) if s.scale is not None else a for a, s in zip(arrays, cm.inputs)]
    return (lambda: cm.run_numpy(arrays)), seconds


def bench(name: str, repeats: int) -> dict:
    from edgelower import zoo

    model, example = zoo.get(name)
    with torch.no_grad():
        eager_ms = median_seconds(lambda: model(*example), repeats) * 1e3
    row = {"model": name, "eager_ms": eager_ms}
    sides = {"tvm": lambda: tvm_own_float(model, example), "float": lambda: edgelower_tvm(model, example),
             "int8": lambda: edgelower_tvm(model, example, quantize="int8", calibration=[example])}
    for side, make in sides.items():
        run, compile_s = make()
        row[f"{side}_ms"], row[f"{side}_compile_s"] = median_seconds(run, repeats) * 1e3, compile_s
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    os.environ["TVM_NUM_THREADS"] = str(args.threads)
    os.environ["EDGELOWER_CACHE"] = tempfile.mkdtemp(prefix="edgelower-bench-tvm-")
    torch.set_num_threads(args.threads)
    rows = [bench(name, args.repeats) for name in args.models.split(",")]
    print("| model | eager ms | TVM float ms | edgelower float ms | edgelower int8 ms | TVM float compile s "
          "| edgelower float compile s | edgelower int8 compile s | eager / TVM | eager / el float | eager / el int8 "
          "| el float / el int8 |")
    print("|---|" + "---:|" * 11)
    for r in rows:
        ratio = lambda a, b: r[f"{a}_ms"] / r[f"{b}_ms"]  # noqa: E731
        print(f"| {r['model']} | {r['eager_ms']:.3f} | {r['tvm_ms']:.3f} | {r['float_ms']:.3f} | {r['int8_ms']:.3f} "
              f"| {r['tvm_compile_s']:.1f} | {r['float_compile_s']:.1f} | {r['int8_compile_s']:.1f} "
              f"| {ratio('eager', 'tvm'):.2f}x | {ratio('eager', 'float'):.2f}x | {ratio('eager', 'int8'):.2f}x "
              f"| {ratio('float', 'int8'):.2f}x |")


if __name__ == "__main__":
    main()
