"""Patch-based inference (MCUNetV2) per zoo model: the arena without patches, with the patches `choose_patches`
picks, and with the smallest arena any patching reaches, against the published TinyEngine / MCUNetV2 peaks.

    .venv/bin/python bench/bench_patches.py [--models mbv2-w0.35-r64,mcunet-in1] [--dtype int8|float32]
                                            [--no-check]

Each model goes through the driver's pipeline up to patch-based inference: float32, or int8 calibrated on 4 random
inputs (minmax), then the arenas are planned exactly as `edgelower.compile` plans them. Columns:
- unpatched: the arena of the graph as compiled without patches (layer by layer, fusion, in-place, reordering);
- chosen: choose_patches' rule without a budget, the smallest arena recomputing at most 10% of the MACs; its split
  value (the node name after capture), grid and recomputed MACs in percent of the model's;
- smallest: the smallest arena of any candidate (square grids up to 8x8 at every split point), whatever it
  recomputes;
- published: peak SRAM from the TinyEngine README (mit-han-lab/tinyengine) and the MCUNet / MCUNetV2 papers
  (arXiv:2007.10319, arXiv:2110.15352; kB read as KiB, 1024 bytes),
  TinyEngine's layer-based figure unless marked, and chosen / published.
With the check on, the chosen patched graph is run on the reference interpreter against the unpatched one on a
random input and must give the same bytes.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from edgelower import zoo
from edgelower.frontend.capture import capture_module
from edgelower.interp import run_graph
from edgelower.passes import PIPELINES, run_pipeline
from edgelower.passes.patches.choose_patches import MAX_RECOMPUTE, best_patches, plan_patches
from edgelower.passes.integer.lower_integer import LowerIntegerOptions
from edgelower.passes.integer.quantize import QuantizeOptions
from edgelower.passes.memory.reorder_nodes import reorder_nodes
from edgelower.passes.patches.tile_patches import tile_patches

KIB = 1024
MODELS = ["mbv2-w0.35-r64", "mbv2-w0.35-r96", "mbv2-w0.35-r144", "mbv2-w0.3-r64", "mnasnet-w0.2-r96",
          "proxyless-w0.3-r64", "mcunet-in1", "mbv2-w1.0-r224"]
# model -> (published peak in KiB, where it comes from)
PUBLISHED = {
    "mbv2-w0.35-r64": (65, "TinyEngine, MCUNet figure"),
    "mbv2-w0.3-r64": (61, "TinyEngine README, H743"),
    "mnasnet-w0.2-r96": (84, "TinyEngine, MCUNet figure"),
    "proxyless-w0.3-r64": (35, "TinyEngine README, H743"),
    "mcunet-in1": (96, "TinyEngine README, H743"),
    "mbv2-w1.0-r224": (172, "MCUNetV2 4x4 patches; layer-based 1372"),
}


def unpatched_graph(name: str, dtype: str, seed: int = 0):
    """The model's graph after its pipeline's passes, just before patch-based inference, and one random input."""
    model, example = zoo.get(name)
    graph = capture_module(model, example)
    steps = PIPELINES["int8" if dtype == "int8" else "float"]
    rng = np.random.default_rng(seed)
    if dtype == "int8":
        calibration = tuple((rng.standard_normal(example[0].shape).astype(np.float32),) for _ in range(4))
        graph = run_pipeline(graph, steps, options=(QuantizeOptions(calibration), LowerIntegerOptions()))
        x = rng.integers(-128, 128, graph.types[graph.inputs[0]].shape).astype(np.int8)
    else:
        graph = run_pipeline(graph, steps)
        x = rng.standard_normal(graph.types[graph.inputs[0]].shape).astype(np.float32)
    return graph, x


def bench(name: str, dtype: str, check: bool) -> dict:
    graph, x = unpatched_graph(name, dtype)
    start = time.perf_counter()
    chosen = plan_patches(graph)
    seconds = time.perf_counter() - start
    row = {"model": name, "chosen": chosen, "smallest": best_patches(graph), "seconds": seconds, "check": "-"}
    if check and chosen.choice is not None:
        patched = tile_patches(reorder_nodes(graph), *chosen.choice)
        if any(a.tobytes() != b.tobytes() for a, b in zip(run_graph(patched, [x]), run_graph(graph, [x]))):
            raise AssertionError(f"{name}: the patched graph does not give the unpatched bytes")
        row["check"] = "bit-exact"
    return row


def kib(n: int) -> str:
    return f"{n:,} ({n / KIB:.1f} KiB)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--dtype", default="int8", choices=["int8", "float32"])
    ap.add_argument("--no-check", action="store_true", help="skip running the patched graphs on the interpreter")
    args = ap.parse_args()
    print(f"| model | unpatched arena | chosen arena (<= {100 * MAX_RECOMPUTE:.0f}% MACs) | split | grid | recompute "
          "| unpatched / chosen | smallest arena (grid, recompute) | published peak | chosen / published | choose s "
          "| check |")
    print("|---|---:|---:|---|---|---:|---:|---:|---|---:|---:|---|")
    for name in args.models.split(","):
        r = bench(name, args.dtype, not args.no_check)
        chosen, smallest = r["chosen"], r["smallest"]
        base = chosen.unpatched_arena_bytes
        cells = (f"{kib(chosen.arena_bytes)} | %{chosen.split} | {chosen.grid[0]}x{chosen.grid[1]} "
                 f"| {100 * chosen.overhead:.1f}%") if chosen.choice else "no patching | - | - | -"
        small = (f"{kib(smallest.arena_bytes)} ({smallest.grid[0]}x{smallest.grid[1]}, +{100 * smallest.overhead:.1f}%)"
                 if smallest.choice else "no patching")
        published = PUBLISHED.get(name)
        pub = f"{published[0]} KiB ({published[1]})" if published else "-"
        ratio = f"{chosen.arena_bytes / (published[0] * KIB):.2f}" if published else "-"
        print(f"| {name} | {kib(base)} | {cells} | {base / chosen.arena_bytes:.2f}x | {small} | {pub} | {ratio} "
              f"| {r['seconds']:.1f} | {r['check']} |", flush=True)


if __name__ == "__main__":
    main()
