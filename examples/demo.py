"""`make demo`: compile a bundled model for the host in float32 and in int8, run the generated C, print the report
and the error against PyTorch."""

import time

import torch

import edgelower

MODEL = "ds-cnn"


def run(cm, model, x, label: str) -> None:
    with torch.no_grad():
        expected = model(x)
    cm(x)  # the first call loads the library
    started = time.perf_counter()
    got = cm(x)
    elapsed = time.perf_counter() - started
    err = (got - expected).abs().max().item()
    scale = expected.abs().max().item()
    print(f"{label:>7}: arena {cm.report.arena_bytes:>7,} B, weights {cm.report.weight_bytes:>7,} B, "
          f"{elapsed * 1e3:6.2f} ms; max |C - PyTorch| = {err:.3g} ({err / scale:.2g} of max |output|)")


def main() -> None:
    model, example = edgelower.zoo.get(MODEL)
    entry = edgelower.zoo.MODELS[MODEL]
    print(f"compiling {MODEL} for the host ...")
    cm = edgelower.compile(model, example, target="host")
    print(cm.report, "\n")
    calibration = [tuple(spec.sample() for spec in entry.inputs) for _ in range(32)]
    cm_int8 = edgelower.compile(model, example, target="host", quantize="int8", calibration=calibration)
    x = entry.inputs[0].sample()
    run(cm, model, x, "float32")
    run(cm_int8, model, x, "int8")
    path = cm_int8.save("demo_out", overwrite=True)
    print(f"\nint8 project written to {path}/ (make -C {path} builds it; `edgelower run {path}` runs it)")


if __name__ == "__main__":
    main()
