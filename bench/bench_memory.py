"""Per zoo model: arena bytes under each step of the memory pipeline, against the live-set lower bound.

    .venv/bin/python bench/bench_memory.py [--models ds-cnn,resnet8] [--markdown]

Columns (bytes of the one static arena; float32 tensors, so int8 models need a quarter):
- unfused: the graph without passes/fuse.py, greedy by size, nodes in capture order, no aliases (the state
  before this planner);
- greedy: the fused graph, greedy by size (TFLite Micro's planner), capture order, no aliases;
- search: the fused graph, plan_memory.search_offsets (orderings x first/best fit, branch and bound);
- +alias: search with views and in-place kernels (passes/memory/alias_buffers.py);
- +reorder: +alias after passes/memory/reorder_nodes.py: what `edgelower.compile` does;
- bound: the live-set lower bound (Report.peak_bytes) of that last schedule, and the node at the peak.
Ratios: unfused / +reorder (everything this pipeline does, fusion included), greedy / +reorder (the memory
passes alone, against the baseline planner on the same fused graph) and +reorder / bound (how far the final arena
is from the best any placement of that schedule could do).
Every arena is checked: the planned schedule run on the simulated arena equals the reference interpreter.

The zoo's networks are chains with residual blocks, where only one order exists; `inception-block` (not in the
zoo, defined here) shows what reordering does where branches meet in a concat.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from edgelower import zoo
from edgelower.frontend.capture import capture_module
from edgelower.interp import run_graph, run_schedule
from edgelower.passes import PIPELINES, run_pipeline
from edgelower.passes.fuse import fuse
from edgelower.passes.memory.plan_memory import greedy_by_size
from edgelower.backends.c.memory import C_MEMORY
from edgelower.passes.memory.features import NO_SHARING
from edgelower.passes.memory.schedule_graph import MemoryOptions, schedule_graph
from edgelower.report import Report

class InceptionBlock(nn.Module):
    """GoogLeNet-style: four branches concatenated, the widest intermediates last in source order."""

    def __init__(self, c: int = 16):
        super().__init__()
        self.b1 = nn.Sequential(nn.Conv2d(c, 8, 1), nn.ReLU())
        self.b2 = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(c, 8, 1), nn.ReLU())
        self.b3 = nn.Sequential(nn.Conv2d(c, 24, 1), nn.ReLU(), nn.Conv2d(24, 8, 3, padding=1), nn.ReLU())
        self.b4 = nn.Sequential(nn.Conv2d(c, 48, 1), nn.ReLU(), nn.Conv2d(48, 8, 5, padding=2), nn.ReLU())

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


EXTRA = {"inception-block": zoo.ZooEntry(InceptionBlock, (zoo.InputSpec((1, 16, 16, 16)),), "inception block")}

COLUMNS = {
    "greedy": MemoryOptions(reorder=False, features=NO_SHARING, planner=greedy_by_size),
    "search": MemoryOptions(reorder=False, features=NO_SHARING),
    "+alias": MemoryOptions(reorder=False, features=C_MEMORY),
    "+reorder": MemoryOptions(features=C_MEMORY),
}


def bench(name: str) -> dict:
    model, example = zoo.instantiate(EXTRA[name]) if name in EXTRA else zoo.get(name)
    captured = capture_module(model, example)
    unfused = run_pipeline(captured, tuple(p for p in PIPELINES["float"] if p is not fuse))
    graph = run_pipeline(captured, PIPELINES["float"])
    row = {"model": name, "unfused": schedule_graph(unfused, COLUMNS["greedy"]).arena_bytes}
    inputs = [x.numpy() for x in example]
    expected = run_graph(graph, inputs)
    for column, options in COLUMNS.items():
        start = time.perf_counter()
        schedule = schedule_graph(graph, options)
        row[f"{column}_s"] = time.perf_counter() - start
        row[column] = schedule.arena_bytes
        for got, want in zip(run_schedule(schedule, inputs), expected):
            np.testing.assert_array_equal(got, want, err_msg=f"{name}: {column} plan changed the result")
    report = Report.from_schedule(schedule, "host")
    row["bound"], row["peak"] = report.peak_bytes, report.peak_text
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join([n for n in zoo.names() if not zoo.MODELS[n].large] + [*EXTRA]))
    args = ap.parse_args()
    rows = [bench(name) for name in args.models.split(",")]
    print("| model | unfused | greedy | search | +alias | +reorder | bound | unfused / +reorder | greedy / +reorder "
          "| +reorder / bound | schedule s | peak at |")
    print("|---|" + "---:|" * 10 + "---|")
    for r in rows:
        print(f"| {r['model']} | {r['unfused']:,} | {r['greedy']:,} | {r['search']:,} | {r['+alias']:,} "
              f"| {r['+reorder']:,} | {r['bound']:,} | {r['unfused'] / r['+reorder']:.2f}x "
              f"| {r['greedy'] / r['+reorder']:.2f}x | {r['+reorder'] / r['bound']:.3f} | {r['+reorder_s']:.2f} "
              f"| {r['peak']} |")


if __name__ == "__main__":
    main()
