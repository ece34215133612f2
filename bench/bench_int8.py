"""Per zoo model: int8 against float32. SQNR of the int8 model (dequantized) against PyTorch's float32 output on
held-out random inputs, host latency of the generated C in int8 and in float32, and, where the model exports to
.tflite, TensorFlow Lite Micro's latency and arena on the same file.

Calibration: 32 random inputs from the model's input spec (minmax observer); SQNR: 16 other random inputs,
10 log10(sum y^2 / sum (y_int8 - y)^2) over all outputs. Latency: the median over repeated runs after a warm-up,
one thread, each side timed through Python (CompiledModel.run_numpy with int8 arrays; TFLM's Python interpreter
`invoke`), so both include a call's overhead. TFLM's arena is what its RecordingMicroAllocator reports as used;
edgelower's is its planned arena (TFLM also keeps per-tensor metadata in that arena).

    .venv/bin/python bench/bench_int8.py [--models lenet5,ds-cnn] [--repeats 30]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import edgelower
from edgelower import zoo
from edgelower.compiled import quantize_with
from edgelower.errors import EdgelowerError

from bench_host import median_seconds  # bench/ is the script's directory, first on sys.path

DEFAULT_SKIP = {"mbv2-w1.0-r224"}  # ~300 M MACs: run it explicitly with --models
CALIBRATION, HELD_OUT = 32, 16


def samples(name: str, count: int) -> list[tuple[torch.Tensor, ...]]:
    return [tuple(spec.sample() for spec in zoo.MODELS[name].inputs) for _ in range(count)]


def sqnr_db(model, cm, inputs) -> float:
    signal = noise = 0.0
    with torch.no_grad():
        for sample in inputs:
            want = model(*sample)
            got = cm(*sample)
            for w, g in zip(want if isinstance(want, tuple) else (want,), got if isinstance(got, tuple) else (got,)):
                signal += float((w.double() ** 2).sum())
                noise += float(((g.double() - w.double()) ** 2).sum())
    return float("inf") if noise == 0 else 10 * np.log10(signal / noise)


def tflm_figures(cm, int8_inputs, repeats: int) -> tuple[float, int]:
    """(median invoke seconds, arena bytes) of TFLite Micro on the exported .tflite."""
    from tflite_micro import runtime

    from edgelower.backends.tflite.export import export_tflite
    from edgelower.backends.tflite.tflm import run_tflm

    data = export_tflite(cm.graph)
    outputs, arena = run_tflm(data, int8_inputs)
    interpreter = runtime.Interpreter.from_bytes(bytes(data), arena_size=max(16 * len(data), 1 << 20))
    for i, x in enumerate(int8_inputs):
        interpreter.set_input(np.ascontiguousarray(x), i)
    return median_seconds(interpreter.invoke, repeats), arena


def bench(name: str, repeats: int) -> dict:
    torch.manual_seed(0)
    model, example = zoo.get(name)
    row = {"model": name, "macs": None, "sqnr": None, "f_ms": None, "q_ms": None, "arena": None,
           "tflm_ms": None, "tflm_arena": None, "note": ""}
    try:
        cm_q = edgelower.compile(model, example, quantize="int8", calibration=samples(name, CALIBRATION))
    except EdgelowerError as e:
        row["note"] = str(e).splitlines()[0][:80]
        return row
    cm_f = edgelower.compile(model, example)
    float_in = [x.numpy() for x in example]
    int8_in = [quantize_with(x, s) if s.scale is not None else x for x, s in zip(float_in, cm_q.inputs)]
    row.update(macs=cm_q.report.macs, sqnr=sqnr_db(model, cm_q, samples(name, HELD_OUT)),
               f_ms=1e3 * median_seconds(lambda: cm_f.run_numpy(float_in), repeats),
               q_ms=1e3 * median_seconds(lambda: cm_q.run_numpy(int8_in), repeats), arena=cm_q.report.arena_bytes)
    try:
        seconds, arena = tflm_figures(cm_q, int8_in, repeats)
        row.update(tflm_ms=1e3 * seconds, tflm_arena=arena)
    except ImportError:
        row["note"] = "TFLite Micro: pip install tflite-micro"
    except EdgelowerError as e:
        row["note"] = "TFLM: " + str(e).splitlines()[0][:70]
    return row


def _cell(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(n for n in zoo.names() if n not in DEFAULT_SKIP))
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = [bench(name, args.repeats) for name in args.models.split(",")]
    print("| model | MACs | SQNR dB | float C ms | int8 C ms | float / int8 | TFLM ms | TFLM / int8 C "
          "| arena B | TFLM arena B | note |")
    print("|---|" + "---:|" * 9 + "---|")
    for r in rows:
        speedup = r["f_ms"] / r["q_ms"] if r["q_ms"] else None
        tflm_ratio = r["tflm_ms"] / r["q_ms"] if r["tflm_ms"] and r["q_ms"] else None
        print(f"| {r['model']} | {_cell(r['macs'], ',')} | {_cell(r['sqnr'], '.1f')} | {_cell(r['f_ms'], '.3f')} "
              f"| {_cell(r['q_ms'], '.3f')} | {_cell(speedup, '.2f')} | {_cell(r['tflm_ms'], '.3f')} "
              f"| {_cell(tflm_ratio, '.2f')} | {_cell(r['arena'], ',')} | {_cell(r['tflm_arena'], ',')} "
              f"| {r['note']} |")


if __name__ == "__main__":
    main()
