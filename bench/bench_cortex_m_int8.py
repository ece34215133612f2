"""Per int8 zoo model and DSP core: instructions per inference and per MAC of the portable int8 kernels and of their
DSP fast paths (runtime/src/*_dsp.c), counted on QEMU, on the same core and the same model.

The fast paths are what a build for a DSP core (`-mcpu=cortex-m4/m7/m55` defines __ARM_FEATURE_DSP) compiles; the
portable column is the same core with `-DEL_PORTABLE_KERNELS` added to the target's cflags (docs/cortex-m.md).
MACs/instr is MACs per instruction of the whole inference (requantization, pooling, adds and all); the core's peak
is 2 (SMLAD: two 16-bit MACs per instruction). Models are quantized with quantize="int8", calibrated on 8 random
inputs; counts are instructions, not cycles.

    .venv/bin/python bench/bench_cortex_m_int8.py [--models ds-cnn,resnet8] [--cores cortex-m4,cortex-m55]
"""

from __future__ import annotations

import dataclasses
import sys

from edgelower import zoo
from edgelower.frontend.capture import capture_module
from edgelower.driver import compile_graph
from edgelower.errors import EdgelowerError, MemoryBudgetError
from edgelower.targets import TARGETS, Target

from bench_cortex_m import models_and_cores  # bench/ is the script's directory, first on sys.path

MODELS = ("mlp", "ds-cnn", "resnet8", "mbv2-w0.35-r64")
CORES = ("cortex-m4", "cortex-m7", "cortex-m55")
PEAK_MACS_PER_INSTRUCTION = 2.0  # SMLAD
CALIBRATION = 8


def portable(target: Target) -> Target:
    settings = target.settings
    return dataclasses.replace(target, settings=dataclasses.replace(
        settings, cflags=settings.cflags + ("-DEL_PORTABLE_KERNELS",)))


def bench(name: str, cores: list[str]) -> list[dict]:
    model, example = zoo.get(name)
    graph = capture_module(model, example)
    calibration = [tuple(spec.sample() for spec in zoo.MODELS[name].inputs) for _ in range(CALIBRATION)]
    rows = []
    for core in cores:
        row = {"model": name, "core": core}
        try:
            for kind, target in (("portable", portable(TARGETS[core])), ("dsp", TARGETS[core])):
                report = compile_graph(graph, target, quantize="int8", calibration=calibration).report
                row.update({"macs": report.macs, f"{kind}_instructions": report.instructions,
                            f"{kind}_stack": report.stack_bytes, f"{kind}_flash": report.flash_bytes})
        except MemoryBudgetError as e:
            over = [kind for kind in ("flash", "SRAM") if f"{kind} (" in str(e)]
            row["fits"] = f"no: {' and '.join(over)} over budget"
        except EdgelowerError as e:  # one broken build must not hide the rest of the table
            print(f"{name} on {core}: {type(e).__name__}: {e}", file=sys.stderr)
            row["fits"] = f"error: {type(e).__name__} (see stderr)"
        rows.append(row)
    return rows


def main() -> None:
    models, cores = models_and_cores(__doc__, MODELS, CORES)
    print("| model | core | MACs | portable instr | instr/MAC | DSP instr | instr/MAC | speed-up | MACs/instr "
          "| of peak | stack B portable / DSP | flash B portable / DSP |")
    print("|---|---|" + "---:|" * 10)
    for name in models:
        for r in bench(name, cores):
            if "fits" in r:
                print(f"| {r['model']} | {r['core']} | {r['fits']} |" + " |" * 9, flush=True)
                continue
            macs, slow, fast = r["macs"], r["portable_instructions"], r["dsp_instructions"]
            print(f"| {r['model']} | {r['core']} | {macs:,} | {slow:,} | {slow / macs:.2f} | {fast:,} "
                  f"| {fast / macs:.2f} | {slow / fast:.2f}x | {macs / fast:.2f} "
                  f"| {macs / fast / PEAK_MACS_PER_INSTRUCTION:.0%} | {r['portable_stack']:,} / {r['dsp_stack']:,} "
                  f"| {r['portable_flash']:,} / {r['dsp_flash']:,} |", flush=True)


if __name__ == "__main__":
    main()
