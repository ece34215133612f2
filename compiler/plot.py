"""The memory plot of `edgelower report DIR --plot mem.png`: live arena bytes per op, from a saved Report.

When the project was patched (passes/patches/tile_patches.py) the unpatched schedule's curve is drawn too, on the patched
schedule's op axis: the nodes after the patch stage are the same nodes in both, so they line up by name, and the
few unpatched stage ops are spread over the patch stage's many tile ops between those anchors.

matplotlib is imported here and only here, lazily (the `plot` extra), and drawn on an Agg canvas: no display, no
global pyplot state.
"""

from __future__ import annotations

from pathlib import Path

from edgelower.errors import EdgelowerError
from edgelower.report import Report

KIB = 1024.0


def _import_matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise EdgelowerError("plotting needs matplotlib, which is not installed: pip install 'edgelower[plot]' "
                             "(or pip install matplotlib)") from None
    return Figure, FigureCanvasAgg


def aligned_steps(unpatched: list[str], patched: list[str]) -> list[float]:
    """An x position on the patched op axis for each unpatched op: its own step where the patched schedule runs a
    node of that name, else interpolated between the nearest such anchors (-1 and the end anchor the ends)."""
    where = {name: step for step, name in enumerate(patched)}
    anchors = [(-1, -1)] + [(j, where[n]) for j, n in enumerate(unpatched) if n in where] + \
        [(len(unpatched), len(patched))]
    xs, k = [], 0
    for j in range(len(unpatched)):
        while anchors[k + 1][0] < j:
            k += 1
        (j0, p0), (j1, p1) = anchors[k], anchors[k + 1]
        xs.append(p0 + (j - j0) * (p1 - p0) / (j1 - j0) if j1 != j0 else p0)
    return xs


def plot_memory(report: Report, path: str | Path, title: str = "") -> Path:
    """Draw `report`'s live bytes per op (and the unpatched curve when there is one) into `path` (PNG, SVG, PDF:
    by suffix); returns the path."""
    Figure, FigureCanvasAgg = _import_matplotlib()
    path = Path(path)
    names = [r.name for r in report.rows]
    live = [r.live_bytes / KIB for r in report.rows]
    fig = Figure(figsize=(11, 5.5), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    steps = list(range(len(live)))
    patched = bool(report.patches and report.unpatched_live)
    if patched:
        base_names = [name for name, _ in report.unpatched_live]
        base_live = [b / KIB for _, b in report.unpatched_live]
        xs = aligned_steps(base_names, names)
        # The first op's level drawn from the left edge.
        ax.step([-0.5] + xs, base_live[:1] + base_live, where="mid", color="tab:red", linewidth=2.2, alpha=0.55,
                label=f"unpatched ({len(base_live)} ops)")
        ax.axhline(report.unpatched_arena_bytes / KIB, color="tab:red", linestyle="--", linewidth=1)
        _label_line(ax, report.unpatched_arena_bytes, f"unpatched arena {report.unpatched_arena_bytes / KIB:,.1f} KiB",
                    "tab:red")
        stage_end = max((s for s, n in enumerate(names) if n not in set(base_names)), default=-1)
        ax.axvspan(-0.5, stage_end + 0.5, color="tab:blue", alpha=0.07, linewidth=0)
        ax.text(stage_end / 2, 0.02, f"patch stage\n{report.patches}", transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=9, color="tab:blue")
    ax.step(steps, live, where="mid", color="tab:blue", linewidth=1.2,
            label=f"{'patched' if patched else 'live bytes'} ({len(live)} ops)")
    ax.axhline(report.arena_bytes / KIB, color="tab:blue", linestyle="--", linewidth=1)
    arena_text = f"arena {report.arena_bytes / KIB:,.1f} KiB"
    if patched:
        arena_text += f", {report.recompute_macs:,} MACs recomputed (+{report.recompute_percent:.1f}%)"
    _label_line(ax, report.arena_bytes, arena_text, "tab:blue")
    if live:
        peak = max(range(len(live)), key=live.__getitem__)
        ax.plot([peak], [live[peak]], "o", color="tab:blue", markersize=5)
        ax.annotate(f"peak: {names[peak]}", (peak, live[peak]), textcoords="offset points", xytext=(6, -14),
                    fontsize=8, color="tab:blue")
    top = max([report.arena_bytes, report.unpatched_arena_bytes or 0]) / KIB
    ax.set_ylim(0, top * 1.12 if top else 1)
    ax.set_xlim(-0.5, max(len(live) - 0.5, 0.5))
    ax.set_xlabel("op (kernel step of the compiled schedule)")
    ax.set_ylabel("live arena bytes (KiB)")
    ax.set_title(title or f"live arena bytes per op ({report.target})")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="center right")
    fig.savefig(path)
    return path


def _label_line(ax, nbytes: int, text: str, color: str) -> None:
    ax.annotate(text, (1.0, nbytes / KIB), xycoords=("axes fraction", "data"), textcoords="offset points",
                xytext=(-4, 3), ha="right", va="bottom", fontsize=8.5, color=color)
