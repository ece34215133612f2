"""What a compilation costs: memory, weights, MACs, per op. Computed from the Schedule, never estimated."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from edgelower.ir import Node, Op
from edgelower.schedule import Schedule


def node_macs(node: Node, schedule: Schedule) -> int:
    """Multiply-accumulates of one node (conv, linear and matmul; other ops count 0)."""
    types = schedule.graph.types
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
    live_bytes: int    # arena bytes live while this node runs
    source: str = ""


@dataclass(frozen=True)
class Report:
    target: str
    arena_bytes: int
    peak_bytes: int
    weight_bytes: int
    macs: int
    rows: tuple[OpRow, ...] = ()
    flash_bytes: int | None = None   # from the linked image, on targets that build one
    sram_bytes: int | None = None
    compile_seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_schedule(cls, schedule: Schedule, target: str, **kwargs) -> "Report":
        constants = schedule.graph.constants
        rows = []
        for step, kernel in enumerate(schedule.kernels):
            node = kernel.node
            rows.append(OpRow(
                name=node.name, op=node.op.name.lower(), output=str(schedule.graph.types[node.output]),
                macs=node_macs(node, schedule),
                weight_bytes=sum(constants[i].nbytes for i in set(node.inputs) if i in constants),
                live_bytes=sum(b.nbytes for b in schedule.live_at(step)), source=node.source))
        return cls(target=target, arena_bytes=schedule.arena_bytes, peak_bytes=schedule.peak_bytes,
                   weight_bytes=sum(a.nbytes for a in constants.values()), macs=sum(r.macs for r in rows),
                   rows=tuple(rows), **kwargs)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Report":
        data = dict(data)
        data["rows"] = tuple(OpRow(**r) for r in data.get("rows", ()))
        return cls(**data)

    def summary(self) -> list[tuple[str, str]]:
        def kb(n):
            return "n/a" if n is None else f"{n:,} B ({n / 1024:.1f} KiB)"
        return [("target", self.target), ("arena_bytes", kb(self.arena_bytes)), ("peak_bytes", kb(self.peak_bytes)),
                ("weight_bytes", kb(self.weight_bytes)), ("flash_bytes", kb(self.flash_bytes)),
                ("sram_bytes", kb(self.sram_bytes)), ("macs", f"{self.macs:,}"), ("ops", str(len(self.rows))),
                ("compile_seconds", f"{self.compile_seconds:.2f}")]

    def __str__(self) -> str:
        head = "\n".join(f"{k:<16}{v}" for k, v in self.summary())
        cols = ("#", "op", "node", "output", "MACs", "weights", "live")
        body = [(str(i), r.op, r.name, r.output, f"{r.macs:,}", f"{r.weight_bytes:,}", f"{r.live_bytes:,}")
                for i, r in enumerate(self.rows)]
        widths = [max(len(c), *(len(row[j]) for row in body)) if body else len(c) for j, c in enumerate(cols)]
        fmt = "  ".join(f"{{:{'>' if j in (0, 4, 5, 6) else '<'}{w}}}" for j, w in enumerate(widths))
        table = [fmt.format(*cols), fmt.format(*("-" * w for w in widths))] + [fmt.format(*row) for row in body]
        return head + "\n\n" + "\n".join(table)
