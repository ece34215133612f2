"""Analytic resource and latency estimates of an HLS design, before any tool runs (docs/hls.md, "Estimates").

Per layer, the pipelined loop of its kernel runs `positions` iterations at II = R (its reuse factor), each doing
`macs` 10x10-bit products, `wide` 32x32-bit products and `divides` integer divisions (LayerPlan.work), spread over
ceil(x / R) hardware units:

    DSP      = ceil(macs / R) + 4 ceil(wide / R)               a small product is one DSP slice, 32x32 four
    LUT, FF  = per-layer control + per-unit costs (UNIT_COST) + ROMs and buffers too small for a BRAM
    BRAM_18K = ROMs (weights, tables) banked for the reads one cycle needs, plus activation storage: local arrays
               (io_parallel), or line buffers, buffered stages and whole-tensor fork FIFOs (io_stream)
    cycles   = positions x R + depth (io_stream: at least one cycle per streamed input value)

io_parallel runs layers one after another (latency = II = the sum); io_stream overlaps them under DATAFLOW
(II = the slowest layer; latency = the sum of each layer's start-up plus that II). URAM is not used: every ROM is
placed in BRAM or LUTs. The constants are first-order, not fitted to any synthesis result; Vitis's csynth report is
the measurement.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Mapping

from edgelower.errors import EdgelowerError
from edgelower.ir.graph import Graph, Op

from edgelower.backends.hls import configs as cfg
from edgelower.backends.hls.plan import LayerPlan, Rom
from edgelower.backends.hls.settings import HlsSettings

BRAM_BITS = 18 * 1024
LUTROM_BITS = 1024            # an array or bank below this many bits lives in LUTs (distributed ROM / RAM)
BITS_PER_LUT = 64             # a LUT6 holds 64 bits of distributed memory
DSP_PER_WIDE = 4              # a 32x32 product on 25x18 / 27x18 DSP slices
UNIT_COST = {"mac": (24, 40), "wide": (120, 200), "divide": (1100, 1200)}   # (LUT, FF) per unit
LAYER_COST = (200, 300)       # (LUT, FF) of a layer's loop control and handshakes


class ResourceError(EdgelowerError):
    """The design exceeds the part: names the resource, the overflow and the knob that would fit."""


@dataclass(frozen=True)
class LayerEstimate:
    name: str
    op: str
    reuse: int
    dsp: int
    bram_18k: int
    lut: int
    ff: int
    cycles: int
    startup: int

    def row(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Estimate:
    part: str
    clock_mhz: float
    io_type: str
    layers: tuple[LayerEstimate, ...]
    dsp: int
    bram_18k: int
    lut: int
    ff: int
    uram: int
    ii_cycles: int
    latency_cycles: int
    budget: Mapping[str, int] = field(default_factory=dict)

    @property
    def latency_us(self) -> float:
        return self.latency_cycles / self.clock_mhz

    @property
    def throughput(self) -> float:
        """Inferences per second at the part's clock."""
        return self.clock_mhz * 1e6 / max(self.ii_cycles, 1)

    def over(self) -> list[tuple[str, int, int]]:
        """(resource, needed, budget) for each resource the design exceeds."""
        return [(r, getattr(self, r), self.budget[r]) for r in ("dsp", "bram_18k", "lut", "ff", "uram")
                if getattr(self, r) > self.budget[r]]

    def to_dict(self) -> dict:
        return {"part": self.part, "clock_mhz": self.clock_mhz, "io_type": self.io_type, "dsp": self.dsp,
                "bram_18k": self.bram_18k, "lut": self.lut, "ff": self.ff, "uram": self.uram,
                "ii_cycles": self.ii_cycles, "latency_cycles": self.latency_cycles,
                "latency_us": round(self.latency_us, 4), "throughput_per_s": round(self.throughput, 2),
                "budget": dict(self.budget), "layers": [layer.row() for layer in self.layers]}


def _memory(bits: int, reads_per_cycle: int) -> tuple[int, int]:
    """(BRAM_18K, LUT) of an array read `reads_per_cycle` times per cycle: banked two reads per BRAM port pair;
    banks below LUTROM_BITS are distributed memory."""
    if bits == 0:
        return 0, 0
    banks = max(1, math.ceil(reads_per_cycle / 2))
    per_bank = math.ceil(bits / banks)
    if per_bank < LUTROM_BITS:
        return 0, math.ceil(bits / BITS_PER_LUT)
    return banks * math.ceil(per_bank / BRAM_BITS), 0


def _roms(graph: Graph, plan: LayerPlan, reads: int) -> tuple[int, int]:
    bram = lut = 0
    seen = set()
    for call in plan.calls:
        for arg in call.args:
            if isinstance(arg, Rom):
                bits, n = arg.bits, 1
            elif isinstance(arg, str) and arg in graph.constants and arg not in seen:
                seen.add(arg)
                t = graph.types[arg]
                bits, n = t.numel * t.dtype.itemsize * 8, reads
            else:
                continue
            b, l = _memory(bits, n)
            bram, lut = bram + b, lut + l
    return bram, lut


def _activation_bits(graph: Graph, value: str) -> int:
    t = graph.types[value]
    return t.numel * t.dtype.itemsize * 8


def _stream_buffers(graph: Graph, plan: LayerPlan) -> int:
    """Bits a layer stores in io_stream: a line buffer, a dense row, per-channel sums, or (buffered) every
    streamed input and its output."""
    if plan.stream is None:
        streamed = [v for v in dict.fromkeys(plan.node.inputs) if v not in graph.constants]
        return sum(_activation_bits(graph, v) for v in streamed) + _activation_bits(graph, plan.node.output)
    c = plan.stream.config
    if isinstance(c, cfg.Conv2dConfig):
        return c.span_h * c.in_w * c.in_channels * 8
    if isinstance(c, cfg.Pool2dConfig):
        return c.span_h * c.in_w * c.channels * 8
    if isinstance(c, cfg.LinearConfig):
        return c.in_features * 8
    if plan.node.op is Op.MEAN:
        return c.inner * 32
    return 0


def estimate_layer(graph: Graph, plan: LayerPlan, reuse: int, io_type: str, array: bool) -> LayerEstimate:
    """One layer at reuse factor `reuse`; `array`: its output is a local array (io_parallel, not an alias)."""
    work = plan.work
    macs, wide, divides = (math.ceil(x / reuse) for x in (work.macs, work.wide, work.divides))
    dsp = macs + DSP_PER_WIDE * wide
    lut = LAYER_COST[0] + sum(n * UNIT_COST[k][0] for k, n in (("mac", macs), ("wide", wide), ("divide", divides)))
    ff = LAYER_COST[1] + sum(n * UNIT_COST[k][1] for k, n in (("mac", macs), ("wide", wide), ("divide", divides)))
    bram, rom_lut = _roms(graph, plan, max(macs, 1))
    lut += rom_lut
    compute = work.positions * reuse + work.depth
    if io_type == "io_parallel":
        stored = _activation_bits(graph, plan.node.output) if array else 0
        cycles, startup = compute, compute
    else:
        stored = _stream_buffers(graph, plan)
        streamed_in = sum(graph.types[v].numel for v in plan.node.inputs if v not in graph.constants)
        if plan.stream is None:
            cycles = streamed_in + compute + graph.types[plan.node.output].numel
            startup = cycles
        else:
            cycles = max(compute, streamed_in)
            startup = work.depth + _first_output_reads(plan)
    b, l = _memory(stored, 1)
    return LayerEstimate(plan.node.name, plan.node.op.name, reuse, dsp, bram + b, lut + l, ff, cycles, startup)


def _first_output_reads(plan: LayerPlan) -> int:
    """Values a stream-native layer reads before its first output: the rows up to its first output row's window."""
    c = plan.stream.config
    if isinstance(c, (cfg.Conv2dConfig, cfg.Pool2dConfig)):
        channels = c.in_channels if isinstance(c, cfg.Conv2dConfig) else c.channels
        first = min(max(-c.pad_top + (c.kernel_h - 1) * c.dilation_h, 0), c.in_h - 1)
        return (first + 1) * c.in_w * channels
    if isinstance(c, cfg.LinearConfig):
        return c.in_features
    if plan.node.op is Op.MEAN:
        return c.reduced * c.inner
    return 1


def _fifo_bits(graph: Graph, plans: list[LayerPlan]) -> int:
    """Whole-tensor FIFOs after each fork (stream.py): one per extra reader of a value."""
    readers: dict[str, int] = {}
    for plan in plans:
        for v in plan.node.inputs:
            if v not in graph.constants:
                readers[v] = readers.get(v, 0) + 1
    for v in graph.outputs:
        readers[v] = readers.get(v, 0) + 1
    return sum(2 * (n - 1) * _activation_bits(graph, v) for v, n in readers.items() if n > 1)


def estimate(graph: Graph, plans: list[LayerPlan], reuse: Mapping[str, int], io_type: str,
             settings: HlsSettings) -> Estimate:
    outputs = set(graph.outputs)
    layers = []
    for plan in plans:
        alias = plan.node.op is Op.RESHAPE and plan.node.output not in outputs
        array = not alias and plan.node.output not in outputs
        layers.append(estimate_layer(graph, plan, reuse[plan.node.name], io_type, array))
    extra_bram, extra_lut = _memory(_fifo_bits(graph, plans), 1) if io_type == "io_stream" else (0, 0)
    totals = {r: sum(getattr(e, r) for e in layers) for r in ("dsp", "bram_18k", "lut", "ff")}
    if io_type == "io_parallel":
        ii = latency = sum(e.cycles for e in layers)
    else:
        ii = max((e.cycles for e in layers), default=1)
        latency = sum(e.startup for e in layers) + ii
    budget = {"dsp": settings.dsp, "bram_18k": settings.bram_18k, "lut": settings.lut, "ff": settings.ff,
              "uram": settings.uram}
    return Estimate(settings.part, settings.clock_mhz, io_type, tuple(layers), totals["dsp"],
                    totals["bram_18k"] + extra_bram, totals["lut"] + extra_lut, totals["ff"], 0, max(ii, 1),
                    max(latency, 1), budget)


def reuse_for(plans: list[LayerPlan], factor: int, overrides: Mapping[str, int]) -> dict[str, int]:
    """Per-layer reuse factors: `factor` (clamped to the most a layer can use) unless a layer is overridden."""
    out = {}
    for plan in plans:
        r = overrides.get(plan.node.name, factor)
        if int(r) != r or r < 1:
            raise ValueError(f"reuse factor {r!r} for layer {plan.node.name}: a positive integer")
        out[plan.node.name] = min(int(r), plan.work.reuse_max)
    return out


def balanced_reuse(plans: list[LayerPlan], cycles: int, overrides: Mapping[str, int]) -> dict[str, int]:
    """Per-layer reuse factors that bring every layer with arithmetic units to about `cycles` (FINN's folding idea):
    R = clamp(cycles // positions, 1, reuse_max)."""
    out = {}
    for plan in plans:
        if plan.node.name in overrides:
            out[plan.node.name] = min(int(overrides[plan.node.name]), plan.work.reuse_max)
            continue
        w = plan.work
        out[plan.node.name] = max(1, min(cycles // max(w.positions, 1), w.reuse_max))
    return out


# What a reuse factor changes: the arithmetic units and the banking of the ROMs they read.
FOLDED = ("dsp", "bram_18k", "lut", "ff")


def _fits(e: Estimate, resources=FOLDED) -> bool:
    return all(getattr(e, r) <= e.budget[r] for r in resources)


def auto_reuse(graph, plans, io_type, settings, overrides) -> dict[str, int]:
    """The smallest balanced per-layer target (in cycles) that fits the part's DSP, BRAM, LUT and FF; the largest
    reuse everywhere when none does (the fit check then names what overflows)."""
    hi = max((p.work.positions * p.work.reuse_max for p in plans), default=1)
    lo = 1
    if not _fits(estimate(graph, plans, balanced_reuse(plans, hi, overrides), io_type, settings)):
        return balanced_reuse(plans, hi, overrides)
    while lo < hi:
        mid = (lo + hi) // 2
        if _fits(estimate(graph, plans, balanced_reuse(plans, mid, overrides), io_type, settings)):
            hi = mid
        else:
            lo = mid + 1
    return balanced_reuse(plans, lo, overrides)


def fitting_factor(graph, plans, io_type, settings, overrides) -> int | None:
    """The smallest global reuse factor that fits the part's DSP, BRAM, LUT and FF, or None."""
    top = max((p.work.reuse_max for p in plans), default=1)
    if not _fits(estimate(graph, plans, reuse_for(plans, top, overrides), io_type, settings)):
        return None
    lo, hi = 1, top
    while lo < hi:
        mid = (lo + hi) // 2
        if _fits(estimate(graph, plans, reuse_for(plans, mid, overrides), io_type, settings)):
            hi = mid
        else:
            lo = mid + 1
    return lo


LABELS = {"dsp": "DSP", "bram_18k": "BRAM_18K", "lut": "LUT", "ff": "FF", "uram": "URAM"}


def check_fit(graph, plans, est: Estimate, settings: HlsSettings, options, target_name: str) -> None:
    """Raise ResourceError naming each resource over the part's budget, by how much, and what would fit."""
    over = est.over()
    if not over:
        return
    from edgelower.backends.hls import PARTS_BY_SIZE

    lines = [f"the {est.io_type} design of {graph.name!r} does not fit {target_name} ({settings.part}"
             f"{', ' + settings.board if settings.board else ''}):"]
    for r, need, have in over:
        lines.append(f"  {LABELS[r]}: needs {need:,}, the part has {have:,} (over by {need - have:,})")
    knobs = []
    factor = fitting_factor(graph, plans, est.io_type, settings, options.layer_reuse)
    if factor is not None and factor != options.reuse_factor:
        knobs.append(f"reuse_factor={factor} (each multiplier and ROM port shared {factor}-fold) fits; "
                     "reuse_factor='auto' balances it per layer")
    if est.io_type == "io_parallel" and any(r == "bram_18k" for r, _, _ in over):
        reuse = auto_reuse(graph, plans, "io_stream", settings, options.layer_reuse)
        streamed = estimate(graph, plans, reuse, "io_stream", settings)
        if not streamed.over():
            knobs.append(f"io_type='io_stream' with reuse_factor='auto' fits ({streamed.bram_18k:,} BRAM_18K: line "
                         "buffers instead of whole tensors)")
    bigger = [name for name, s in PARTS_BY_SIZE() if all(getattr(est, r) <= getattr(s, r) for r, _, _ in over)
              and s.part != settings.part]
    if bigger:
        knobs.append(f"a larger part: target={bigger[0]!r}")
    lines.append("What would fit: " + ("; or ".join(knobs) if knobs else "nothing at any reuse factor on the "
                                       "listed parts; split the model"))
    lines.append("Nothing was written.")
    raise ResourceError("\n".join(lines))
