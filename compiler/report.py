"""What a compilation costs: memory, weights, MACs, per op. Computed from the Schedule (or, for backends that plan
their own memory, the Graph), never estimated."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from typing import Mapping

from edgelower.ir.graph import Graph, Node, Op, TensorType
from edgelower.ir.schedule import Schedule, linearize


def node_macs(node: Node, types: Mapping[str, TensorType]) -> int:
    """Multiply-accumulates of one node (conv, linear and matmul; other ops count 0)."""
    out = types[node.output]
    if node.op is Op.CONV2D:
        _, cin_per_group, kh, kw = types[node.inputs[1]].shape
        return out.numel * cin_per_group * kh * kw
    if node.op is Op.LINEAR:
        return out.numel * types[node.inputs[1]].shape[1]
    if node.op is Op.MATMUL:
        return out.numel * types[node.inputs[0]].shape[-1]
    return 0


@dataclass(frozen=True)
class OpRow:
    name: str
    op: str
    output: str        # output type, printed
    macs: int
    weight_bytes: int  # bytes of the constants this node reads
    live_bytes: int    # arena bytes live while this node runs (each storage once: views and in-place share)
    source: str = ""


@dataclass(frozen=True)
class Report:
    target: str
    arena_bytes: int | None   # None: the backend plans its own memory (a TVM or IREE module)
    peak_bytes: int
    weight_bytes: int
    macs: int
    rows: tuple[OpRow, ...] = ()
    # arena_bytes >= peak_bytes, the live-set lower bound: the most bytes live at once, reached first while node
    # `peak_op` runs ("" when the graph inputs alone, before the first kernel, are the peak).
    peak_op: str = ""
    flash_bytes: int | None = None   # from the linked image, on targets that build one (docs/cortex-m.md)
    sram_bytes: int | None = None    #   static RAM + stack high-water mark
    stack_bytes: int | None = None   # stack high-water mark of one inference, measured on the emulated core
    instructions: int | None = None  # instructions of one inference, counted on the emulated core
    compile_seconds: float = 0.0
    # Wall-clock seconds per stage of the compilation that made it (edgelower.stages: capture, passes, plan,
    # render, build), and whether render and build came from the cache (edgelower.compile_cache).
    stage_seconds: tuple[tuple[str, float], ...] = ()
    cached: bool = False
    # Patch-based inference (passes/patches/tile_patches.py): the configuration ("" when unpatched), and the same graph
    # unpatched: its arena, its MACs, and its live bytes per op (node name, bytes) for `edgelower report --plot`.
    # recompute_macs = macs - unpatched_macs, the halos computed again.
    patches: str = ""
    unpatched_arena_bytes: int | None = None
    unpatched_macs: int | None = None
    recompute_macs: int = 0
    unpatched_live: tuple[tuple[str, int], ...] = ()
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_schedule(cls, schedule: Schedule, target: str, unpatched: Schedule | None = None,
                      **kwargs) -> "Report":
        """The report of `schedule`; `unpatched`, when the graph was patched, is the plan of the graph before."""
        if unpatched is not None:
            base = cls.from_schedule(unpatched, target)
            kwargs.update(unpatched_arena_bytes=base.arena_bytes, unpatched_macs=base.macs,
                          unpatched_live=tuple((r.name, r.live_bytes) for r in base.rows))
        constants = schedule.graph.constants
        live = schedule.live_profile()  # entry i is step i - 1
        peak_step = schedule.peak_step
        rows = []
        for step, kernel in enumerate(schedule.kernels):
            node = kernel.node
            rows.append(OpRow(
                name=node.name, op=node.op.name.lower(), output=str(schedule.graph.types[node.output]),
                macs=node_macs(node, schedule.graph.types),
                weight_bytes=sum(constants[i].nbytes for i in set(node.inputs) if i in constants),
                live_bytes=live[step + 1], source=node.source))
        peak_op = schedule.kernels[peak_step].node.name if 0 <= peak_step < len(schedule.kernels) else ""
        macs = sum(r.macs for r in rows)
        if unpatched is not None:
            kwargs["recompute_macs"] = macs - kwargs["unpatched_macs"]
        return cls(target=target, arena_bytes=schedule.arena_bytes, peak_bytes=max(live),
                   weight_bytes=sum(a.nbytes for a in constants.values()), macs=macs,
                   rows=tuple(rows), peak_op=peak_op, **kwargs)

    @classmethod
    def from_graph(cls, graph: Graph, target: str, **kwargs) -> "Report":
        """The report of a graph whose backend plans its own memory: MACs, weights and per-op rows; `peak_bytes`
        is the live-set bound of the graph in its own order, without any sharing, and there is no arena."""
        report = cls.from_schedule(linearize(graph), target, **kwargs)
        return replace(report, arena_bytes=None)

    @property
    def peak_text(self) -> str:
        """Where the live bytes peak, for messages: "node conv_3 (CONV2D)" or "the graph inputs"."""
        op = next((r.op.upper() for r in self.rows if r.name == self.peak_op), "")
        return f"node {self.peak_op} ({op})" if self.peak_op else "the graph inputs"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Report":
        data = dict(data)
        data["rows"] = tuple(OpRow(**r) for r in data.get("rows", ()))
        data["unpatched_live"] = tuple((name, live) for name, live in data.get("unpatched_live", ()))
        data["stage_seconds"] = tuple((stage, seconds) for stage, seconds in data.get("stage_seconds", ()))
        return cls(**data)

    def summary(self) -> list[tuple[str, str]]:
        def kb(n):
            return "n/a" if n is None else f"{n:,} B ({n / 1024:.1f} KiB)"
        return ([("target", self.target), ("arena_bytes", kb(self.arena_bytes)), ("peak_bytes", kb(self.peak_bytes)),
                ("peak_op", self.peak_text),
                ("weight_bytes", kb(self.weight_bytes)), ("flash_bytes", kb(self.flash_bytes)),
                ("sram_bytes", kb(self.sram_bytes)), ("stack_bytes", kb(self.stack_bytes)),
                ("macs", f"{self.macs:,}"), ("instructions", self._instructions()), ("ops", str(len(self.rows))),
                ("compile_seconds", f"{self.compile_seconds:.2f}" + (" (render and build cached)" if self.cached
                                                                     else ""))]
                + self._patch_summary(kb) + self._extra_summary())

    def _extra_summary(self) -> list[tuple[str, str]]:
        """The scalar entries of each backend section of `extra` (the HLS backend's estimate), as section.key."""
        rows = []
        for section, values in sorted(self.extra.items()):
            if isinstance(values, dict):
                rows += [(f"{section}.{key}", f"{value:,}" if isinstance(value, int) else str(value))
                         for key, value in values.items() if isinstance(value, (int, float, str))]
        return rows

    @property
    def recompute_percent(self) -> float:
        """Recomputed MACs in percent of the unpatched model's (0 when unpatched)."""
        return 100.0 * self.recompute_macs / self.unpatched_macs if self.unpatched_macs else 0.0

    def _patch_summary(self, kb) -> list[tuple[str, str]]:
        if not self.patches:
            return []
        return [("patches", self.patches), ("unpatched_arena", kb(self.unpatched_arena_bytes)),
                ("recompute_macs", f"{self.recompute_macs:,} (+{self.recompute_percent:.1f}%)")]

    @property
    def instructions_per_mac(self) -> float | None:
        return None if self.instructions is None or not self.macs else self.instructions / self.macs

    def _instructions(self) -> str:
        if self.instructions is None:
            return "n/a"
        per_mac = self.instructions_per_mac
        return f"{self.instructions:,}" + ("" if per_mac is None else f" ({per_mac:.2f} per MAC)")

    def stage_table(self) -> str:
        """Seconds per compilation stage, one row each, and the total ("" when not recorded)."""
        if not self.stage_seconds:
            return ""
        rows = [(stage, f"{seconds:.2f}") for stage, seconds in self.stage_seconds]
        rows.append(("total", f"{self.compile_seconds:.2f}"))
        width = max(len(stage) for stage, _ in rows)
        return "\n".join([f"{'stage':<{width}}  seconds"] + [f"{stage:<{width}}  {sec:>7}" for stage, sec in rows])

    def __str__(self) -> str:
        summary = self.summary()
        width = max(16, *(len(k) + 1 for k, _ in summary))
        head = "\n".join(f"{k:<{width}}{v}" for k, v in summary)
        if self.stage_seconds:
            head += "\n\n" + self.stage_table()
        cols = ("#", "op", "node", "output", "MACs", "weights B", "live B")
        body = [(str(i), r.op, r.name, r.output, f"{r.macs:,}", f"{r.weight_bytes:,}", f"{r.live_bytes:,}")
                for i, r in enumerate(self.rows)]
        widths = [max(len(c), *(len(row[j]) for row in body)) if body else len(c) for j, c in enumerate(cols)]
        fmt = "  ".join(f"{{:{'>' if j in (0, 4, 5, 6) else '<'}{w}}}" for j, w in enumerate(widths))
        table = [fmt.format(*cols), fmt.format(*("-" * w for w in widths))] + [fmt.format(*row) for row in body]
        return head + "\n\n" + "\n".join(table)
