"""The `edgelower` command line: compile | run | report | targets | zoo."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgelower.errors import EdgelowerError

console = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 200)  # pipes and logs get whole rows, not wrapped cells


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(d) for d in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"input shape {text!r} is not comma-separated integers (e.g. 1,3,96,96)")
    if not shape or any(d <= 0 for d in shape):
        raise argparse.ArgumentTypeError(f"input shape {text!r} must have positive dimensions")
    return shape


def _patches(text: str):
    if text in ("auto", "none"):
        return None if text == "none" else text
    split, _, grid = text.rpartition(":")
    try:
        rows, cols = (int(n) for n in grid.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--patches {text!r}: expected auto, none or SPLIT:RxC (e.g. add_1:4x4)")
    return split, (rows, cols)


def _load_factory(spec: str):
    """`zoo:NAME`, `package.module:factory` or `path/to/file.py:factory` -> (model, example_inputs or None)."""
    import torch

    if spec.startswith("zoo:"):
        from edgelower import zoo

        return zoo.get(spec[4:])
    if ":" not in spec:
        raise EdgelowerError(f"model {spec!r}: expected MODULE:FACTORY, FILE.py:FACTORY or zoo:NAME")
    module_name, factory_name = spec.rsplit(":", 1)
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise EdgelowerError(f"model file {path} does not exist")
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        sys.path.insert(0, str(Path.cwd()))
        module = importlib.import_module(module_name)
    factory = getattr(module, factory_name, None)
    if factory is None:
        raise EdgelowerError(f"{module_name} has no attribute {factory_name!r}")
    made = factory()
    model, example = made if isinstance(made, tuple) and len(made) == 2 else (made, None)
    if not isinstance(model, torch.nn.Module):
        raise EdgelowerError(f"{spec}: {factory_name}() returned {_kind(made)}; it must return an nn.Module, or "
                             "(nn.Module, example_inputs)")
    return model, example


def _kind(value) -> str:
    return "None" if value is None else f"a {type(value).__name__}"


def _check_compile_args(args) -> None:
    """What can be wrong before the model is loaded fails now, not after a compile of many seconds."""
    from edgelower.driver import memory_budget_bytes
    from edgelower.targets import get_target

    get_target(args.target)
    if args.calibration and not args.quantize:
        raise EdgelowerError("--calibration is only used with --quantize int8 (without it the model compiles to "
                             "float32)")
    if args.quantize and not args.calibration:
        raise EdgelowerError("--quantize int8 needs calibration data: --calibration FILE.npy (one per input, "
                             "samples along the first axis) or --calibration random:N")
    random = [c for c in args.calibration or () if c.startswith("random:")]
    if random and (len(args.calibration) > 1 or not random[0][len("random:"):].isdigit()):
        raise EdgelowerError(f"--calibration {' '.join(args.calibration)}: random:N (N a count) stands alone")
    args.memory_budget = memory_budget_bytes(args.memory_budget)
    output = Path(args.output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())) and not args.overwrite:
        raise EdgelowerError(f"{output} exists and is not empty; pass --overwrite to replace it")


class _Progress:
    """on_stage for the CLI: the spinner names the running stage, and each finished one is printed with its time,
    so a long render or build shows where it is and what came before."""

    def __init__(self, status):
        self.status, self.label, self.since = status, None, 0.0

    def __call__(self, label: str) -> None:
        self.done()
        self.label, self.since = label, time.perf_counter()
        self.status.update(f"{label}...")

    def done(self) -> None:
        if self.label is not None:
            console.print(f"  {self.label}: {time.perf_counter() - self.since:.2f} s")
            self.label = None


def cmd_compile(args) -> int:
    import torch

    import edgelower

    _check_compile_args(args)
    with console.status("loading model") as status:
        model, example = _load_factory(args.model)
        if args.input_shape:
            dtype = getattr(torch, args.input_dtype)
            example = tuple(torch.randn(s).to(dtype) if dtype.is_floating_point else torch.zeros(s, dtype=dtype)
                            for s in args.input_shape)
        if example is None:
            raise EdgelowerError(f"{args.model} returns only a model: give --input-shape (e.g. 1,3,96,96)")
        calibration = _calibration(args, example) if args.quantize else None
        progress = _Progress(status)
        weights = {"weights": args.weights} if args.weights else {}
        cm = edgelower.compile(model, example, target=args.target, quantize=args.quantize, calibration=calibration,
                               memory_budget=args.memory_budget, patches=args.patches, on_stage=progress, **weights)
        progress.done()
        status.update("saving")
        path = cm.save(args.output, overwrite=args.overwrite)
    console.print(f"[green]compiled[/] {args.model} for {args.target} -> {path}")
    _print_report(cm.report.to_dict())
    return 0


def _calibration(args, example) -> list[tuple]:
    """--calibration: one .npy per input holding samples along a leading axis, or random:N (a smoke test only:
    random data calibrates the ranges of random data)."""
    import torch

    spec = args.calibration
    if len(spec) == 1 and spec[0].startswith("random:"):
        console.print("[yellow]calibrating on random inputs: fine for a smoke test, not for accuracy[/]")
        return [tuple(torch.randn_like(x) if x.is_floating_point() else x for x in example)
                for _ in range(int(spec[0][len("random:"):]))]
    if len(spec) != len(example):
        raise EdgelowerError(f"--calibration: {len(spec)} file(s) for {len(example)} input(s)")
    stacks = [torch.from_numpy(np.load(path)) for path in spec]
    return [tuple(s[i:i + 1] for s in stacks) for i in range(min(len(s) for s in stacks))]


def cmd_run(args) -> int:
    """Like `cm(x)`: float inputs of an int8 model are quantized and its outputs dequantized (--raw: int8 in and
    out, as the C API takes them)."""
    import edgelower

    with console.status("building"):
        cm = edgelower.load(args.directory)
    rng = np.random.default_rng(args.seed)
    if args.input:
        if len(args.input) != len(cm.inputs):
            raise EdgelowerError(f"{len(args.input)} --input file(s) for {len(cm.inputs)} input(s): "
                                 + ", ".join(s.name for s in cm.inputs))
        inputs = [np.load(p) for p in args.input]
    else:
        inputs = [_random_input(s, rng, args.raw) for s in cm.inputs]
        console.print(f"no --input given: running on random inputs (seed {args.seed})")
    outputs = cm.run_numpy(inputs) if args.raw else [np.asarray(o) for o in _as_list(cm(*inputs))]
    for spec, value in zip(cm.outputs, outputs):
        flat = value.reshape(-1)
        out.print(f"{spec.name}: {value.dtype}{list(value.shape)} first values "
                  f"{np.array2string(flat[:8], precision=5)}")
    for path, value in zip(args.save_outputs or [], outputs):
        np.save(path, value)
    return 0


def _random_input(spec, rng, raw: bool) -> np.ndarray:
    """Standard normal floats for a float input and, unless raw, for an int8 input (cm() quantizes them)."""
    if np.dtype(spec.dtype).kind == "f" or (spec.scale is not None and not raw):
        return rng.standard_normal(spec.shape).astype(np.float32)
    return np.zeros(spec.shape, spec.dtype)


def _as_list(outputs) -> list:
    return list(outputs) if isinstance(outputs, tuple) else [outputs]


def _print_report(report: dict) -> None:
    from edgelower.report import Report

    rep = Report.from_dict(report)
    summary = Table(show_header=False, box=None)
    for key, value in rep.summary():
        summary.add_row(key, value)
    out.print(summary)
    table = Table("#", "op", "node", "output", "MACs", "weights B", "live B", title="per op (B: bytes)")
    for i, r in enumerate(rep.rows):
        table.add_row(str(i), r.op, r.name, r.output, f"{r.macs:,}", f"{r.weight_bytes:,}", f"{r.live_bytes:,}")
    out.print(table)
    if rep.stage_seconds:
        stages = Table("stage", "seconds", title="compile time" + (" (render and build cached)" if rep.cached else ""))
        for stage, seconds in rep.stage_seconds:
            stages.add_row(stage, f"{seconds:.2f}")
        stages.add_row("total", f"{rep.compile_seconds:.2f}")
        out.print(stages)


def cmd_report(args) -> int:
    manifest = Path(args.directory) / "manifest.json"
    if not manifest.is_file():
        raise EdgelowerError(f"{args.directory} has no manifest.json; is it a project written by `edgelower compile`?")
    report = json.loads(manifest.read_text())["report"]
    _print_report(report)
    if args.plot:
        from edgelower.plot import plot_memory
        from edgelower.report import Report

        path = plot_memory(Report.from_dict(report), args.plot, title=f"{Path(args.directory).name}: live arena "
                                                                       "bytes per op")
        console.print(f"[green]wrote[/] {path}")
    return 0


def cmd_targets(args) -> int:
    from edgelower.targets import TARGETS

    table = Table("target", "backend", "core", "features", "SRAM", "flash", "runs on", "needs", "description")
    for t in TARGETS.values():
        kb = lambda n: "-" if n is None else f"{n // 1024} KiB"  # noqa: E731
        table.add_row(t.name, t.backend, t.core or "-", ",".join(sorted(t.features)), kb(t.sram_bytes),
                      kb(t.flash_bytes), escape(t.settings.runs_on), escape(t.settings.needs), escape(t.description))
    out.print(table)
    return 0


def cmd_zoo(args) -> int:
    from edgelower import zoo

    table = Table("model", "inputs", "description")
    for name in zoo.names():
        entry = zoo.MODELS[name]
        table.add_row(name, " ".join("x".join(map(str, s)) for s in entry.input_shapes), entry.description)
    out.print(table)
    return 0


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, like every other error (exit status 2)."""

    def error(self, message: str):
        _print_error(f"{self.prog}: {message} (see {self.prog} --help)")
        sys.exit(2)


def _print_error(message: str) -> None:
    lines = message.splitlines() or [""]
    # One line; an error that lists several items (unsupported ops, ...) keeps them on the lines after it.
    console.print(f"[red]error:[/] {escape(lines[0])}", soft_wrap=True)
    for line in lines[1:]:
        console.print(escape(line), soft_wrap=True, highlight=False)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="edgelower", description="Lower PyTorch models to the edge.")
    p.add_argument("--debug", action="store_true", help="print the traceback of an error (or EDGELOWER_DEBUG=1)")
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: given after the command, it sets args.debug; absent, it leaves the top-level value alone.
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="print the traceback of an error (or EDGELOWER_DEBUG=1)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    c = sub.add_parser("compile", help="compile a model into a project directory", parents=[common])
    c.add_argument("model", help="MODULE:FACTORY, FILE.py:FACTORY or zoo:NAME (FACTORY() returns a module, "
                                 "or (module, example_inputs))")
    c.add_argument("--input-shape", type=_shape, action="append", help="one per input, e.g. 1,3,96,96")
    c.add_argument("--input-dtype", default="float32", choices=["float32", "int64"])
    c.add_argument("--target", default="host")
    c.add_argument("--memory-budget", default=None,
                   help="arena bytes the model must fit: 200000, 256K or 1M (K = 1024 bytes)")
    c.add_argument("--quantize", choices=["int8"], default=None, help="integer-only int8 (needs --calibration)")
    c.add_argument("--calibration", action="append",
                   help="FILE.npy per input (samples along axis 0), or random:N for a smoke test")
    c.add_argument("--patches", type=_patches, default="auto",
                   help="patch-based inference: auto (when over the memory budget or the target's SRAM), none, "
                        "or SPLIT:RxC (split value and grid, e.g. add_1:4x4)")
    c.add_argument("--weights", choices=["incbin", "c"], default=None,
                   help="how the weights are linked: incbin (a .S + .bin, GNU toolchains) or c (hex strings, any "
                        "C99 compiler); default: the target's")
    c.add_argument("-o", "--output", required=True)
    c.add_argument("--overwrite", action="store_true", help="replace a non-empty output directory")
    c.set_defaults(func=cmd_compile)
    r = sub.add_parser("run", help="build and run a saved project", parents=[common])
    r.add_argument("directory")
    r.add_argument("--input", action="append", help=".npy file, one per input (default: random)")
    r.add_argument("--save-outputs", action="append", help=".npy file, one per output")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--raw", action="store_true", help="an int8 model's inputs and outputs as int8, unconverted "
                                                      "(default: float in, quantized; float out, dequantized)")
    r.set_defaults(func=cmd_run)
    rep = sub.add_parser("report", help="print a saved project's report", parents=[common])
    rep.add_argument("directory")
    rep.add_argument("--plot", metavar="FILE", help="also draw live bytes per op (and the unpatched curve of a "
                                                    "patched project) into FILE (.png, .svg, .pdf); needs matplotlib")
    rep.set_defaults(func=cmd_report)
    sub.add_parser("targets", help="list targets", parents=[common]).set_defaults(func=cmd_targets)
    sub.add_parser("zoo", help="list bundled models", parents=[common]).set_defaults(func=cmd_zoo)
    return p


def main(argv: list[str] | None = None) -> int:
    """Exit status 0, or 2 after an error printed as one line on stderr (the traceback only with --debug or
    EDGELOWER_DEBUG=1)."""
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        raise
    except Exception as e:
        if args.debug or os.environ.get("EDGELOWER_DEBUG", "0") not in ("", "0"):
            console.print_exception()
        expected = isinstance(e, (EdgelowerError, OSError, ValueError, TypeError, KeyError))
        message = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        _print_error(message if expected and message else f"{type(e).__name__}: {message} (run with --debug for "
                                                          "the traceback)")
        return 2


if __name__ == "__main__":
    sys.exit(main())
