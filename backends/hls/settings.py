"""The HLS backend's target settings: an FPGA part (or the board that carries it), its fabric clock and resource
budgets, which the estimate (`estimate.py`) is checked against."""

from __future__ import annotations

from dataclasses import dataclass

RESOURCES = ("dsp", "bram_18k", "uram", "lut", "ff")


@dataclass(frozen=True)
class HlsSettings:
    """A part number as Vitis HLS names it (`set_part`), the clock the design is scheduled for, and the part's
    resources: DSP slices, 18 Kib block RAMs (a 36 Kib block counts as two), UltraRAM blocks, LUTs and flip-flops."""

    part: str
    clock_mhz: float
    dsp: int
    bram_18k: int
    uram: int
    lut: int
    ff: int
    family: str = ""            # "zynq", "zynquplus", "virtexuplus": DSP48E1 or DSP48E2 slices
    board: str = ""             # the board the part sits on, for messages and the project's README

    @property
    def clock_period_ns(self) -> float:
        return 1000.0 / self.clock_mhz

    def budget(self, resource: str) -> int:
        return getattr(self, resource)

    @property
    def runs_on(self) -> str:
        return f"C-simulation here (g++, ap_types); Vitis HLS for {self.part}"

    @property
    def needs(self) -> str:
        """What must be installed to run it here (the C-simulation), and to build it for the part."""
        return "g++ and the ap_types headers (edgelower's hls extra, or Vitis HLS); Vitis HLS to synthesize"
