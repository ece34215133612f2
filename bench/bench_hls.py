"""The HLS backend per model and architecture: the analytic estimate (DSP, BRAM_18K, LUT, II and latency at the
part's clock), C-simulation time, and accuracy: edgelower's int8 C-simulation against its own reference (the
interpreter: bytes that differ) and against PyTorch (max |error| of the dequantized output), beside hls4ml's own
flow on the same PyTorch model (`convert_from_pytorch_model(...).compile().predict()`, ap_fixed<16,6>, its
defaults) as a peer: whether it converts, and its max |error| against PyTorch. hls4ml prints no resource estimate
without Vivado, so only edgelower's is shown.

The jet-tagging MLP 16-64-32-32-5 (hls4ml's benchmark network; Duarte et al. 2018, arXiv 1804.06913: sub-100 ns)
is the first row.

    .venv/bin/python bench/bench_hls.py [--models jet-mlp,lenet5] [--target hls] [--no-hls4ml]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time

import numpy as np
import torch

import edgelower
from edgelower import zoo
from edgelower.compiled import quantize_with
from edgelower.errors import EdgelowerError
from edgelower.interp import run_graph

DEFAULT_MODELS = ("jet-mlp", "mlp", "lenet5", "ds-cnn", "resnet8", "transformer-block", "two-tower",
                  "mbv2-w0.35-r64")
CALIBRATION, HELD_OUT = 16, 8


def jet_mlp() -> tuple[torch.nn.Module, tuple[torch.Tensor, ...], list]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 32), torch.nn.ReLU(),
                                torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, 5)).eval()
    return model, (torch.randn(1, 16),), [(torch.randn(1, 16),) for _ in range(CALIBRATION + HELD_OUT)]


def case(name: str):
    if name == "jet-mlp":
        return jet_mlp()
    model, example = zoo.get(name)
    torch.manual_seed(1)
    return model, example, [tuple(s.sample() for s in zoo.MODELS[name].inputs)
                            for _ in range(CALIBRATION + HELD_OUT)]


def edgelower_row(model, example, samples, target: str, io_type: str) -> dict:
    calibration, held_out = samples[:CALIBRATION], samples[CALIBRATION:]
    cm = edgelower.compile(model, example, target=target, quantize="int8", calibration=calibration, io_type=io_type)
    e = cm.report.extra["hls"]
    worst = scale = 0.0
    differ = 0
    seconds = []
    with torch.no_grad():
        for sample in held_out:
            raw = [quantize_with(x.numpy(), s) for x, s in zip(sample, cm.inputs)]
            start = time.perf_counter()
            got = cm.run_numpy(raw)
            seconds.append(time.perf_counter() - start)
            differ += sum(int((g != r).sum()) for g, r in zip(got, run_graph(cm.graph, raw)))
            want = model(*sample)
            want = want if isinstance(want, tuple) else (want,)
            for g, s, w in zip(got, cm.outputs, want):
                y = (g.astype(np.float32) - s.zero_point) * s.scale
                worst = max(worst, float(np.abs(y - w.numpy()).max()))
                scale = max(scale, float(np.abs(w.numpy()).max()))
    return {"dsp": e["dsp"], "bram": e["bram_18k"], "lut": e["lut"], "ii": e["ii_cycles"],
            "latency_us": e["latency_us"], "csim_ms": 1e3 * float(np.median(seconds)), "differ": differ,
            "err": worst, "rel": worst / scale if scale else 0.0}


def hls4ml_row(model, samples, io_type: str, part: str) -> str:
    """hls4ml's own flow, or why it failed (first line of the error)."""
    try:
        import hls4ml
    except ImportError:
        return "not installed"
    shapes = [tuple(x.shape[1:]) for x in samples[0]]
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # hls4ml prints its topology
            return _hls4ml_error(hls4ml, model, samples, shapes, io_type, part)
    except Exception as e:  # noqa: BLE001 - a peer's failure is a result here
        return "fails: " + (str(e).strip().splitlines() or [type(e).__name__])[0][:60]


def _hls4ml_error(hls4ml, model, samples, shapes, io_type: str, part: str) -> str:
    """Max |hls4ml predict - PyTorch| on the held-out samples (one-input models; PyTorch layout in and out)."""
    config = hls4ml.utils.config_from_pytorch_model(model, shapes[0] if len(shapes) == 1 else shapes,
                                                    granularity="model", backend="Vitis")
    with tempfile.TemporaryDirectory(prefix="hls4ml-") as out:
        hm = hls4ml.converters.convert_from_pytorch_model(model, output_dir=out, hls_config=config, backend="Vitis",
                                                          io_type=io_type, part=part)
        hm.compile()
        worst = scale = 0.0
        with torch.no_grad():
            for sample in samples[CALIBRATION:]:
                want = model(*sample).numpy()
                got = np.asarray(hm.predict(np.ascontiguousarray(sample[0].numpy()))).reshape(want.shape)
                worst = max(worst, float(np.abs(got - want).max()))
                scale = max(scale, float(np.abs(want).max()))
    return f"{worst:.4f} ({100 * worst / scale:.1f}%)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--target", default="hls")
    parser.add_argument("--no-hls4ml", action="store_true")
    args = parser.parse_args()
    part = edgelower.targets.get_target(args.target).settings
    print(f"target {args.target}: {part.part} at {part.clock_mhz:g} MHz "
          f"(DSP {part.dsp}, BRAM_18K {part.bram_18k}, LUT {part.lut:,}); reuse_factor='auto'")
    head = ("model", "io", "DSP", "BRAM", "LUT", "II (cyc)", "latency us", "csim ms", "bytes != ref",
            "edgelower int8 max abs err (rel)", "hls4ml max abs err (rel)")
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for name in args.models.split(","):
        model, example, samples = case(name)
        for io_type in ("io_parallel", "io_stream"):
            try:
                r = edgelower_row(model, example, samples, args.target, io_type)
                ours = [f"{r['dsp']:,}", f"{r['bram']:,}", f"{r['lut']:,}", f"{r['ii']:,}",
                        f"{r['latency_us']:.3f}", f"{r['csim_ms']:.1f}", str(r["differ"]),
                        f"{r['err']:.4f} ({100 * r['rel']:.1f}%)"]
            except EdgelowerError as e:
                ours = [str(e).splitlines()[0][:70]] + [""] * 7
            peer = "" if args.no_hls4ml else hls4ml_row(model, samples, io_type, part.part)
            print(" | ".join([name, io_type, *ours, peer]), flush=True)


if __name__ == "__main__":
    main()
