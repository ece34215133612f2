"""Compile time per stage, before and after a change, for host float32: every zoo model, plus torchvision's resnet18,
mobilenet_v2 and efficientnet_b0 (rebuilt in bench/torchvision_like.py, 64x64 inputs).

Each (model, version) compiles in a fresh process with an empty cache whose runtime objects are built beforehand
("cold": capture, passes, plan, render and build of the model itself), then compiles the same model again in that
process ("cached": the second compile of an unchanged model). Stage seconds come from `on_stage` (the time from one
stage's start to the next's), so both versions are timed the same way. "before" is a git revision, exported with
`git archive` and imported from there (`--before REV`); "after" is this checkout. Also: generated source bytes
(.c/.h/.S, and the weights' .bin apart), and the peak resident memory of the compiler processes (the largest child
of the worker) and of the Python process.

    .venv/bin/python bench/bench_compile.py [--before 948a19b] [--models resnet18,ds-cnn] [--repeats 3]
    .venv/bin/python bench/bench_compile.py --scaling 250,500,1000    # stage seconds vs graph size
Timings on a shared machine are noisy: give --repeats and read medians.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STAGES = ("capture", "passes", "plan", "render", "build")
LABELS = (("capture", "capture"), ("passes", "passes"), ("schedule", "plan"), ("render", "render"), ("build", "build"))
EXTRA = ("resnet18", "mobilenet_v2", "efficientnet_b0")


def _model(name: str):
    if name in EXTRA:
        sys.path.insert(0, str(HERE))
        import torchvision_like

        return torchvision_like.get(name)
    from edgelower import zoo

    return zoo.get(name)


def _timed_compile(model, example) -> tuple[dict, object]:
    import edgelower

    marks = []
    cm = edgelower.compile(model, example, target="host",
                           on_stage=lambda label: marks.append((label, time.perf_counter())))
    marks.append(("end", time.perf_counter()))
    seconds = {stage: 0.0 for stage in STAGES}
    for (label, start), (_, end) in zip(marks, marks[1:]):
        stage = next(s for prefix, s in LABELS if label.startswith(prefix))
        seconds[stage] += end - start
    seconds["total"] = marks[-1][1] - marks[0][1]
    return seconds, cm


# `cc` for the worker: runs the real compiler and logs the peak resident memory of it and its own children (cc1,
# as, ld). Measured from a small process: a child forked from the worker would report the worker's own RSS.
CC_WRAPPER = """#!{python}
import os, resource, subprocess, sys
status = subprocess.call(["{cc}", *sys.argv[1:]])
with open(os.environ["BENCH_CC_LOG"], "a") as log:
    log.write(f"{{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}}\\n")
sys.exit(status)
"""


def _compiler_peak_mb(log: Path) -> float:
    return max((int(line) for line in log.read_text().split()), default=0) / 1024 if log.exists() else 0.0


def worker(name: str) -> dict:
    """One model, cold then cached, in this process (its EDGELOWER_CACHE is fresh)."""
    from edgelower.runtime import loader
    from edgelower.targets import get_target

    settings = get_target("host").settings
    loader._runtime_objects(tuple(settings.cflags), settings.cc)  # the runtime is not the model's compile time
    log = Path(os.environ["BENCH_CC_LOG"])
    log.unlink(missing_ok=True)
    model, example = _model(name)
    cold, cm = _timed_compile(model, example)
    cc_peak = _compiler_peak_mb(log)
    cached, _ = _timed_compile(model, example)
    files = cm.files
    return {"model": name, "cold": cold, "cached": cached,
            "params": sum(p.numel() for p in model.parameters()),
            "source_bytes": sum(len(v) for k, v in files.items() if not k.endswith(".bin")),
            "blob_bytes": sum(len(v) for k, v in files.items() if k.endswith(".bin")),
            "cc_peak_mb": cc_peak, "py_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def export_revision(rev: str) -> Path:
    """`rev` of this repository as an importable `edgelower` (the package-dir layout, by symlinks), cached in /tmp."""
    root = Path(tempfile.gettempdir()) / f"edgelower-bench-{rev}"
    package = root / "pkg" / "edgelower"
    if not package.exists():
        (root / "src").mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(HERE.parent), "archive", rev], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(root / "src")], input=archive.stdout, check=True)
        package.mkdir(parents=True)
        for entry in (root / "src" / "compiler").iterdir():
            (package / entry.name).symlink_to(entry)
        for sub in ("passes", "backends", "runtime"):
            (package / sub).symlink_to(root / "src" / sub)
    return root / "pkg"


def run_worker(name: str, pythonpath: Path | None) -> dict:
    cache = Path(tempfile.mkdtemp(prefix="edgelower-bench-cache-"))
    wrapper = cache / "bin" / "cc"
    wrapper.parent.mkdir()
    wrapper.write_text(CC_WRAPPER.format(python=sys.executable, cc=shutil.which("cc")))
    wrapper.chmod(0o755)
    env = {**os.environ, "EDGELOWER_CACHE": str(cache), "BENCH_CC_LOG": str(cache / "cc.log"),
           "PATH": f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    proc = subprocess.run([sys.executable, __file__, "--worker", name], capture_output=True, text=True, env=env,
                          cwd=tempfile.gettempdir())
    shutil.rmtree(cache, ignore_errors=True)
    if proc.returncode != 0:
        return {"model": name, "error": proc.stderr.strip().splitlines()[-1][:200]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def median_run(name: str, pythonpath: Path | None, repeats: int) -> dict:
    runs = [run_worker(name, pythonpath) for _ in range(repeats)]
    good = [r for r in runs if "error" not in r]
    if not good:
        return runs[0]
    out = dict(good[0])
    for kind in ("cold", "cached"):
        out[kind] = {k: statistics.median(r[kind][k] for r in good) for k in good[0][kind]}
    out["cc_peak_mb"] = max(r["cc_peak_mb"] for r in good)
    out["py_peak_mb"] = max(r["py_peak_mb"] for r in good)
    return out


def table(rows: list[tuple[dict | None, dict]]) -> str:
    head = ("| model | params | before: capture / passes / plan / render / build = total s | after: capture / passes "
            "/ plan / render / build = total s | after, cached s | source B before → after | .bin B | "
            "compiler peak MB before → after |")
    lines = [head, "|" + "---|" * 8]

    def stages(r):
        if r is None or "error" in r:
            return (r or {}).get("error", "-")
        c = r["cold"]
        return " / ".join(f"{c[s]:.2f}" for s in STAGES) + f" = **{c['total']:.2f}**"

    for before, after in rows:
        if "error" in after:
            lines.append(f"| {after['model']} | | {stages(before)} | {after['error']} | | | | |")
            continue
        src = f"{before['source_bytes']:,} → " if before and "error" not in before else ""
        mem = f"{before['cc_peak_mb']:.0f} → " if before and "error" not in before else ""
        lines.append(f"| {after['model']} | {after['params']:,} | {stages(before)} | {stages(after)} | "
                     f"{after['cached']['total']:.2f} | {src}{after['source_bytes']:,} | {after['blob_bytes']:,} | "
                     f"{mem}{after['cc_peak_mb']:.0f} |")
    return "\n".join(lines)


def deep_graph(blocks: int):
    """`blocks` x (1x1 conv, batchnorm, relu, residual add): 4 nodes each before the passes, 2 after."""
    import numpy as np

    from edgelower.ir.graph import GraphBuilder, Op, TensorType

    b, rng = GraphBuilder("deep"), np.random.default_rng(0)
    x = b.input("x", TensorType((1, 8, 8, 8)))
    for _ in range(blocks):
        y = b.op(Op.CONV2D, [x, b.constant("w", rng.standard_normal((8, 8, 1, 1)).astype(np.float32)),
                             b.constant("b", np.zeros(8, np.float32))])
        stats = [b.constant(n, (rng.random(8) + 0.5).astype(np.float32)) for n in ("g", "beta", "m", "v")]
        x = b.op(Op.ADD, [b.op(Op.RELU, [b.op(Op.BATCH_NORM, [y, *stats])]), x])
    b.output(x)
    return b.build()


def scaling(sizes: list[int]) -> str:
    """Seconds per stage (after, this checkout) as the graph grows: each stage should grow linearly."""
    from edgelower.driver import compile_graph
    from edgelower.runtime import loader
    from edgelower.targets import get_target

    settings = get_target("host").settings
    loader._runtime_objects(tuple(settings.cflags), settings.cc)  # not part of any graph's build
    lines = ["| nodes | passes s | plan s | render s | build s | total s |", "|---:|---:|---:|---:|---:|---:|"]
    for blocks in sizes:
        graph = deep_graph(blocks)
        report = compile_graph(graph, "host").report
        sec = dict(report.stage_seconds)
        lines.append(f"| {len(graph.nodes):,} | " + " | ".join(f"{sec.get(s, 0):.2f}" for s in STAGES[1:]) +
                     f" | {report.compile_seconds:.2f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--before", help="git revision to compare against (e.g. the commit before the change)")
    p.add_argument("--models", help="comma-separated zoo names and/or resnet18, mobilenet_v2, efficientnet_b0")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--scaling", help="comma-separated block counts of a deep conv/bn/relu/add graph (4 nodes each): "
                                     "stage seconds as the graph grows, instead of the model table")
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return
    if args.scaling:
        with tempfile.TemporaryDirectory(prefix="edgelower-bench-cache-") as cache:
            os.environ["EDGELOWER_CACHE"] = cache  # every build really compiles
            print(scaling([int(n) for n in args.scaling.split(",")]))
        return
    from edgelower import zoo

    names = args.models.split(",") if args.models else [n for n in zoo.names() if not zoo.MODELS[n].large] + list(EXTRA)
    before_path = export_revision(args.before) if args.before else None
    rows = []
    for name in names:
        before = median_run(name, before_path, args.repeats) if before_path else None
        after = median_run(name, None, args.repeats)
        rows.append((before, after))
        print(f"{name}: before {json.dumps(before)}\n{name}: after {json.dumps(after)}", file=sys.stderr, flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
