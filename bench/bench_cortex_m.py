"""Per zoo model and Cortex-M core: flash and SRAM from the linked ELF, stack high-water mark, and instructions per
inference and per MAC counted on QEMU (docs/cortex-m.md says how each is measured).

Float32 kernels: the M0 and M3 run float in libgcc's soft float, the M4/M7/M55 on their FPUs (int8 models, portable
and DSP kernels: bench_cortex_m_int8.py). Counts are instructions, not cycles: QEMU does not model pipelines,
caches or wait states, so they compare code, not chips.

    .venv/bin/python bench/bench_cortex_m.py [--models ds-cnn,resnet8] [--cores cortex-m4,cortex-m7]
"""

from __future__ import annotations

import argparse
import sys

from edgelower import zoo
from edgelower.frontend.capture import capture_module
from edgelower.driver import compile_graph
from edgelower.errors import EdgelowerError, MemoryBudgetError
from edgelower.runtime.cortex_m import missing_packages
from edgelower.targets import TARGETS

MODELS = ("mlp", "lenet5", "ds-cnn", "two-tower", "embed-classifier", "resnet8", "transformer-block", "vit-tiny")
CORES = ("cortex-m0", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m55")


def bench(name: str, cores: list[str]) -> list[dict]:
    model, example = zoo.get(name)
    graph = capture_module(model, example)
    rows = []
    for core in cores:
        try:
            report = compile_graph(graph, core).report
        except MemoryBudgetError as e:
            over = [kind for kind in ("flash", "SRAM") if f"{kind} (" in str(e)]
            rows.append({"model": name, "core": core, "fits": f"no: {' and '.join(over)} over budget"})
            continue
        except EdgelowerError as e:  # one broken build must not hide the rest of the table
            print(f"{name} on {core}: {type(e).__name__}: {e}", file=sys.stderr)
            rows.append({"model": name, "core": core, "fits": f"error: {type(e).__name__} (see stderr)"})
            continue
        rows.append({"model": name, "core": core, "fits": "yes", "macs": report.macs, "flash": report.flash_bytes,
                     "sram": report.sram_bytes, "stack": report.stack_bytes, "weights": report.weight_bytes,
                     "arena": report.arena_bytes, "instructions": report.instructions,
                     "per_mac": report.instructions_per_mac})
    return rows


def models_and_cores(description: str, models, cores) -> tuple[list[str], list[str]]:
    """--models / --cores from the command line; exits naming the Debian packages when the toolchain is missing."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(models))
    ap.add_argument("--cores", default=",".join(cores))
    args = ap.parse_args()
    chosen = args.cores.split(",")
    missing = missing_packages(TARGETS[chosen[0]])
    if missing:
        raise SystemExit(f"needs the Debian packages {' '.join(missing)}")
    return args.models.split(","), chosen


def main() -> None:
    models, cores = models_and_cores(__doc__, MODELS, CORES)
    rows = [row for name in models for row in bench(name, cores)]
    print("| model | core | MACs | weights B | arena B | flash B | SRAM B | stack B | instructions | instr/MAC |")
    print("|---|---|" + "---:|" * 8)
    for r in rows:
        if r["fits"] != "yes":
            print(f"| {r['model']} | {r['core']} | {r['fits']} |" + " |" * 7)
            continue
        print(f"| {r['model']} | {r['core']} | {r['macs']:,} | {r['weights']:,} | {r['arena']:,} | {r['flash']:,} "
              f"| {r['sram']:,} | {r['stack']:,} | {r['instructions']:,} | {r['per_mac']:.1f} |")


if __name__ == "__main__":
    main()
