"""`make demo`: compile a bundled model for the host, run the generated C, print the report and the error."""

import time

import torch

import edgelower

MODEL = "ds-cnn"


def main() -> None:
    model, example = edgelower.zoo.get(MODEL)
    print(f"compiling {MODEL} for the host ...")
    cm = edgelower.compile(model, example, target="host")
    print(cm.report)
    x = torch.randn_like(example[0])
    with torch.no_grad():
        expected = model(x)
    started = time.perf_counter()
    got = cm(x)
    elapsed = time.perf_counter() - started
    err = (got - expected).abs().max().item()
    scale = expected.abs().max().item()
    print(f"\n{MODEL}: generated C ran in {elapsed * 1e3:.2f} ms; max |C - PyTorch| = {err:.3g} "
          f"({err / scale:.2g} of max |output| {scale:.3g})")
    path = cm.save("demo_out", overwrite=True)
    print(f"project written to {path}/ (make -C {path} builds it; `edgelower run {path}` runs it)")


if __name__ == "__main__":
    main()
