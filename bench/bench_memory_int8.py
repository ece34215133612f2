"""Per zoo model, in int8: the arena under greedy by size, under this planner, with automatic patch-based inference,
and in the real TensorFlow Lite Micro on the exported .tflite, against the published TinyEngine / X-CUBE-AI /
MCUNetV2 peaks. The int8 counterpart of bench/bench_memory.py (float32) and bench/bench_patches.py, in one table.

    .venv/bin/python bench/bench_memory_int8.py [--models ds-cnn,resnet8] [--large]

Each model is compiled by `edgelower.compile(model, example, quantize="int8", calibration=...)`, calibration 8 random
inputs from the zoo entry's input spec (torch seed 0, minmax observer). Columns (bytes of the one static arena):
- greedy: the compiled (unpatched) graph planned by plan_memory.greedy_by_size (TFLite Micro's planner), no views or
  in-place kernels, no reordering (bench_memory.COLUMNS["greedy"]);
- new: the driver's default plan, patches=None (search placement, aliases, reordering);
- patched: the driver compiling the split and grid that choose_patches' rule picks without a budget
  (bench_patches: the smallest arena recomputing at most 10% of the MACs), or "no patching" when none lowers it;
- TFLM: TensorFlow Lite Micro's "Arena allocation total" for the .tflite export of the `new` graph (run_tflm, one
  inference; its outputs are checked bit-exact against the compiled C). It includes TFLM's own persistent tail
  (tensor and node structs, allocation bookkeeping), not only activations; TFLM head: the non-persistent part of
  it ("Arena allocation head": activations and kernel scratch), the figure comparable to ours;
- published: peak SRAM from the TinyEngine README (mit-han-lab/tinyengine; kB read as KiB), TinyEngine's or
  MCUNetV2's (bench_patches.PUBLISHED), with X-CUBE-AI's where the TinyEngine README prints one.
Ratios: new / greedy, patched / published (the unpatched arena where nothing is patched), TFLM / new.
"""

from __future__ import annotations

import argparse
import re
import time

import numpy as np
import torch

import edgelower
from edgelower import zoo
from edgelower.compiled import quantize_with
from edgelower.errors import EdgelowerError
from edgelower.passes.patches.choose_patches import MAX_RECOMPUTE, plan_patches
from edgelower.passes.memory.schedule_graph import schedule_graph

from bench_memory import COLUMNS  # bench/ is the script's directory, first on sys.path
from bench_patches import KIB, PUBLISHED

MODELS = ["mbv2-w0.35-r64", "mbv2-w0.35-r96", "mbv2-w0.35-r144", "mbv2-w0.3-r64", "mnasnet-w0.2-r96",
          "proxyless-w0.3-r64", "mcunet-in1", "ds-cnn", "resnet8"]
LARGE = ["mbv2-w1.0-r224"]
CALIBRATION = 8
# X-CUBE-AI 7.3.0 peak SRAM in kB, as the TinyEngine README (mit-han-lab/tinyengine) prints it (STM32H743).
XCUBE = {"mbv2-w0.3-r64": 88, "proxyless-w0.3-r64": 97, "mcunet-in1": 106}


def calibration(name: str) -> list[tuple[torch.Tensor, ...]]:
    return [tuple(spec.sample() for spec in zoo.MODELS[name].inputs) for _ in range(CALIBRATION)]


def tflm_head(data: bytes, int8_in) -> int:
    """TFLM's "Arena allocation head": the non-persistent part of its arena (activations and scratch buffers)."""
    from tflite_micro import runtime

    from edgelower.backends.tflite.tflm import _captured_stderr

    with _captured_stderr() as log:
        interpreter = runtime.Interpreter.from_bytes(bytes(data), arena_size=max(16 * len(data), 1 << 20))
        for i, x in enumerate(int8_in):
            interpreter.set_input(np.ascontiguousarray(x), i)
        interpreter.invoke()
        interpreter.print_allocations()
    return int(re.search(rb"Arena allocation head (\d+) bytes", b"".join(log)).group(1))


def tflm_arena(cm, example) -> tuple[int | None, int | None, str]:
    """(TFLM's arena bytes, its head, note) for the .tflite export of the compiled graph; None and why when it
    fails."""
    try:
        from edgelower.backends.tflite.export import export_tflite
        from edgelower.backends.tflite.tflm import run_tflm

        data = export_tflite(cm.graph)
        int8_in = [quantize_with(x.numpy(), s) if s.scale is not None else x.numpy()
                   for x, s in zip(example, cm.inputs)]
        outputs, arena = run_tflm(data, int8_in)
    except ImportError as e:
        return None, None, f"TFLM not installed ({str(e).splitlines()[0][:60]})"
    except EdgelowerError as e:
        return None, None, f"no TFLM: {str(e).splitlines()[0][:110]}"
    ours = cm.run_numpy(int8_in)
    exact = all(a.tobytes() == b.tobytes() for a, b in zip(outputs, ours))
    return arena, tflm_head(data, int8_in), "TFLM bit-exact" if exact else "TFLM outputs DIFFER"


def bench(name: str) -> dict:
    torch.manual_seed(0)
    model, example = zoo.get(name)
    samples = calibration(name)
    start = time.perf_counter()
    cm = edgelower.compile(model, example, quantize="int8", calibration=samples, patches=None)
    row = {"model": name, "new": cm.report.arena_bytes, "bound": cm.report.peak_bytes}
    # cm.graph is the graph the default plan ran on (the pipeline's order after reorder_nodes; the zoo's networks
    # are chains with residual blocks, where only one order exists).
    row["greedy"] = schedule_graph(cm.graph, COLUMNS["greedy"]).arena_bytes
    chosen = plan_patches(cm.graph)
    row["chosen"] = chosen
    if chosen.choice is not None:
        patched = edgelower.compile(model, example, quantize="int8", calibration=samples, patches=chosen.choice)
        row["patched"] = patched.report.arena_bytes
        if patched.report.arena_bytes != chosen.arena_bytes:
            raise AssertionError(f"{name}: choose_patches planned {chosen.arena_bytes:,}, the driver "
                                 f"{patched.report.arena_bytes:,}")
    else:
        row["patched"] = None
    row["tflm"], row["head"], row["note"] = tflm_arena(cm, example)
    row["seconds"] = time.perf_counter() - start
    return row


def kib(n: int) -> str:
    return f"{n:,} ({n / KIB:.1f} KiB)"


def table(rows: list[dict]) -> list[str]:
    lines = [f"| model | greedy | new | new / greedy | patched (<= {100 * MAX_RECOMPUTE:.0f}% MACs) | TFLM¹ "
             "| TFLM / new | TFLM head² | published peak | patched / published | s | note |",
             "|---|" + "---:|" * 10 + "---|"]
    for r in rows:
        chosen = r["chosen"]
        if r["patched"] is not None:
            patched = (f"{kib(r['patched'])}, %{chosen.split} {chosen.grid[0]}x{chosen.grid[1]}, "
                       f"+{100 * chosen.overhead:.1f}%")
        else:
            patched = "no patching"
        best = r["patched"] if r["patched"] is not None else r["new"]
        pub = PUBLISHED.get(r["model"])
        pub_cell = f"{pub[0]} KiB ({pub[1]})" if pub else "-"
        if r["model"] in XCUBE:
            pub_cell += f"; X-CUBE-AI {XCUBE[r['model']]} KiB"
        ratio = f"{best / (pub[0] * KIB):.2f}" if pub else "-"
        tflm = kib(r["tflm"]) if r["tflm"] is not None else "-"
        tflm_ratio = f"{r['tflm'] / r['new']:.2f}x" if r["tflm"] is not None else "-"
        head = kib(r["head"]) if r["head"] is not None else "-"
        lines.append(f"| {r['model']} | {kib(r['greedy'])} | {kib(r['new'])} | {r['new'] / r['greedy']:.2f} "
                     f"| {patched} | {tflm} | {tflm_ratio} | {head} | {pub_cell} | {ratio} | {r['seconds']:.0f} "
                     f"| {r['note']} |")
    lines.append("")
    lines.append("¹ TFLite Micro's \"Arena allocation total\" (RecordingMicroAllocator) on the .tflite export of the "
                 "unpatched `new` graph: activations as TFLM's greedy planner places them plus TFLM's own persistent "
                 "tail (TfLiteTensor/TfLiteEvalTensor and node structs, op data, allocator bookkeeping), so it is "
                 "not activations alone.")
    lines.append("² TFLite Micro's \"Arena allocation head\": the non-persistent part of that total (activations and "
                 "kernel scratch buffers as its greedy planner places them), the figure comparable to ours; "
                 "total - head is the persistent tail.")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=None, help="comma-separated zoo names (default: the list above)")
    ap.add_argument("--large", action="store_true", help="also mbv2-w1.0-r224 (minutes)")
    args = ap.parse_args()
    names = args.models.split(",") if args.models else MODELS + (LARGE if args.large else [])
    rows = []
    for name in names:
        rows.append(bench(name))
        print(f"# {name}: done in {rows[-1]['seconds']:.0f} s", flush=True)
    print("\n".join(table(rows)))


if __name__ == "__main__":
    main()
