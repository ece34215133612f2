"""Targets are data: one table of everything edgelower can compile for.

A target names the backend that renders it and carries that backend's own settings record (the C backend's
CSettings: compiler, flags, runner, QEMU machine); the backend's declaration says which pipeline it needs. The
memory budgets are the board's (None where the host has no fixed budget).

Cortex-M targets come in two kinds. A core (`cortex-m4`) is built with that core's arm-none-eabi-gcc flags and its
budgets are the memory of the QEMU machine it runs on. A board (`stm32f746`) is its core's flags (with the FPU the
chip really has) and the chip's SRAM and flash; it runs on its core's QEMU machine, but a model must fit the
chip's budgets to compile (docs/cortex-m.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from edgelower.backends.c.settings import CSettings, Machine
from edgelower.backends.hls.settings import HlsSettings
from edgelower.backends.mlir.settings import IreeSettings
from edgelower.backends.tvm.settings import TvmSettings
from edgelower.errors import TargetError

KIB, MIB = 1024, 1024 * 1024


@dataclass(frozen=True)
class Target:
    """One row of the table: the backend that renders it and that backend's own settings record, the
    instruction-set features the kernels may use, and the memory budgets of the board (None: no fixed budget)."""

    name: str
    description: str
    backend: str                      # key of edgelower.backends.BACKENDS
    settings: Any                     # the backend's settings record, e.g. CSettings for "c"
    features: frozenset[str] = field(default_factory=frozenset)   # e.g. "fpu", "dsp", "mve"
    sram_bytes: int | None = None
    flash_bytes: int | None = None

    @property
    def core(self) -> str | None:
        """The CPU core a firmware target is built for (None for the host and for non-CPU targets)."""
        return getattr(self.settings, "core", None)


MACHINES: dict[str, Machine] = {m.name: m for m in (
    # mps2-an385/386/500: 4 MiB ZBT SSRAM for code at 0 and 4 MiB for data at 0x20000000.
    Machine("mps2-an385", "cortex-m3", 0x0000_0000, 4 * MIB, 0x2000_0000, 4 * MIB),
    Machine("mps2-an386", "cortex-m4", 0x0000_0000, 4 * MIB, 0x2000_0000, 4 * MIB),
    Machine("mps2-an500", "cortex-m7", 0x0000_0000, 4 * MIB, 0x2000_0000, 4 * MIB),
    # mps3-an547: 512 KiB ITCM at 0 (where the vector table must be) and 512 KiB DTCM at 0x20000000.
    Machine("mps3-an547", "cortex-m55", 0x0000_0000, 512 * KIB, 0x2000_0000, 512 * KIB),
    # The only Cortex-M0 machine in QEMU 7.2: the BBC micro:bit's nRF51822, 256 KiB flash and 16 KiB RAM.
    # QEMU's cortex-m0 is ARMv6-M, so an ARMv7-M instruction in the image faults instead of running.
    Machine("microbit", "cortex-m0", 0x0000_0000, 256 * KIB, 0x2000_0000, 16 * KIB),
)}

HOST_CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic")
# Same C dialect and warnings as the host, plus one section per function and object so that the linker drops
# every kernel a model does not call (--gc-sections) and flash counts only what is used. Both sides forbid
# contracting a*b+c into one fused multiply-add (gcc's default in C99 mode, clang's is not), so the float32
# kernels round every operation the same way on the host and on the core.
FIRMWARE_CFLAGS = HOST_CFLAGS + ("-ffp-contract=off", "-ffunction-sections", "-fdata-sections")


def _core(core: str, arch: tuple[str, ...], features: set[str], machine: str, what: str) -> Target:
    m = MACHINES[machine]
    settings = CSettings("qemu", "arm-none-eabi-gcc", (f"-mcpu={core}", "-mthumb", *arch, *FIRMWARE_CFLAGS), core, m)
    return Target(core, f"Arm {what}", "c", settings, frozenset(features), m.ram_bytes, m.flash_bytes)


def _board(name: str, core: Target, fpu: tuple[str, ...], sram: int, flash: int, what: str) -> Target:
    """A chip: its core's flags with the float ABI and FPU the chip really has, and the chip's memory."""
    settings = replace(core.settings, cflags=(f"-mcpu={core.core}", "-mthumb", *fpu, *FIRMWARE_CFLAGS))
    return Target(name, what, "c", settings, core.features, sram, flash)


_M0 = _core("cortex-m0", ("-mfloat-abi=soft",), set(), "microbit", "Cortex-M0 (ARMv6-M, float in software)")
_M3 = _core("cortex-m3", ("-mfloat-abi=soft",), set(), "mps2-an385", "Cortex-M3 (ARMv7-M, float in software)")
_M4 = _core("cortex-m4", ("-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"), {"fpu", "dsp"}, "mps2-an386",
            "Cortex-M4F (ARMv7E-M: DSP, single-precision FPU)")
_M7 = _core("cortex-m7", ("-mfloat-abi=hard", "-mfpu=fpv5-d16"), {"fpu", "dsp"}, "mps2-an500",
            "Cortex-M7 (ARMv7E-M: DSP, double-precision FPU)")
# -mcpu=cortex-m55 implies MVE with floating point (Helium) and the FPU.
_M55 = _core("cortex-m55", ("-mfloat-abi=hard",), {"fpu", "dsp", "mve"}, "mps3-an547",
             "Cortex-M55 (ARMv8.1-M: DSP, MVE/Helium, FPU)")

TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("host", "this machine: C99 built with the system compiler, run through ctypes", "c",
           CSettings("host", "cc", HOST_CFLAGS + ("-ffp-contract=off",)), frozenset({"fpu"})),
    _M0, _M3, _M4, _M7, _M55,
    _board("stm32f746", _M7, ("-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"), 320 * KIB, 1 * MIB,
           "ST STM32F746 (MCUNet's STM32F746G-DISCO), single-precision FPU"),
    _board("stm32h743", _M7, ("-mfloat-abi=hard", "-mfpu=fpv5-d16"), 512 * KIB, 2 * MIB,
           "ST STM32H743 (TinyEngine's board), double-precision FPU; SRAM: its 512 KiB AXI SRAM"),
    _board("nrf52840", _M4, ("-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"), 256 * KIB, 1 * MIB,
           "Nordic nRF52840 (Arduino Nano 33 BLE), single-precision FPU"),
    # Apache TVM (docs/tvm.md): Relax built by LLVM for this CPU, or by TVM's CUDA pipeline for an NVIDIA GPU.
    Target("tvm-cpu", "this machine's CPU through Apache TVM (Relax, LLVM), run by the Relax VM", "tvm",
           TvmSettings("llvm"), frozenset({"fpu"})),
    Target("cuda", "NVIDIA GPU, Ampere (sm_80: A100), through Apache TVM's CUDA pipeline with dlight schedules",
           "tvm", TvmSettings("cuda", "sm_80"), frozenset({"fpu", "dp4a"})),
    Target("cuda-sm90", "NVIDIA GPU, Hopper (sm_90: H100, H200), through Apache TVM's CUDA pipeline with dlight "
           "schedules", "tvm", TvmSettings("cuda", "sm_90"), frozenset({"fpu", "dp4a"})),
)}

# IREE (the MLIR backend, docs/mlir.md). iree-cpu is compiled for this CPU's features and runs on one thread, like
# the host's C. The CUDA target is sm_80 (Ampere) PTX: IREE 3.13's wheel has no sm_90 entry in its GPU target table
# ("missing GPU target in #hal.executable.target"), and a newer GPU's driver compiles sm_80 PTX for itself. The Vulkan
# target is NVIDIA Ampere's SPIR-V environment (8-bit storage, int64), which the int8 programs need. IREE's vector
# distribution pipeline for GPU reductions fails on int64 rows of 64 and more ("failed to distribute": I-BERT's
# LayerNorm sums), so CUDA reductions take its warp-reduction pipeline.
_CUDA_FLAGS = ("--iree-cuda-target=sm_80", "--iree-codegen-llvmgpu-use-reduction-vector-distribution=false")
TARGETS.update({t.name: t for t in (
    Target("iree-cpu", "this CPU through IREE: linalg-on-tensors compiled for llvm-cpu, run by iree.runtime", "mlir",
           IreeSettings("llvm-cpu", ("--iree-llvmcpu-target-cpu=host",), "local-sync", "this CPU"), frozenset({"fpu"})),
    Target("iree-cuda", "NVIDIA GPUs through IREE (CUDA, sm_80 PTX): compiles here, runs where a GPU is", "mlir",
           IreeSettings("cuda", _CUDA_FLAGS, "cuda", "an NVIDIA GPU with its CUDA driver"), frozenset({"fpu"})),
    Target("iree-vulkan", "GPUs through IREE (Vulkan SPIR-V, Ampere's environment): compiles here, runs where a "
           "Vulkan GPU is", "mlir",
           IreeSettings("vulkan-spirv", ("--iree-vulkan-target=ampere",), "vulkan", "a GPU with a Vulkan driver"),
           frozenset({"fpu"})),
)})


# FPGA parts for the HLS backend (docs/hls.md): part number, the fabric clock a design is scheduled for, and the
# part's DSP slices, 18 Kib block RAMs, UltraRAMs, LUTs and flip-flops (AMD's product tables).
_FPGA = {
    "pynq-z2": ("TUL PYNQ-Z2: Zynq-7020", HlsSettings("xc7z020clg400-1", 100.0, 220, 280, 0, 53_200, 106_400,
                                                      "zynq", "PYNQ-Z2")),
    "ultra96": ("Avnet Ultra96-V2: Zynq UltraScale+ ZU3EG", HlsSettings("xczu3eg-sbva484-1-i", 200.0, 360, 432, 0,
                                                                         70_560, 141_120, "zynquplus", "Ultra96-V2")),
    "zcu104": ("AMD ZCU104: Zynq UltraScale+ ZU7EV", HlsSettings("xczu7ev-ffvc1156-2-e", 200.0, 1_728, 624, 96,
                                                                  230_400, 460_800, "zynquplus", "ZCU104")),
    "kv260": ("AMD Kria KV260: K26 SOM (Zynq UltraScale+)", HlsSettings("xck26-sfvc784-2LV-c", 200.0, 1_248, 288, 64,
                                                                        117_120, 234_240, "zynquplus", "KV260")),
    "alveo-u250": ("AMD Alveo U250 data-center card", HlsSettings("xcu250-figd2104-2L-e", 300.0, 12_288, 5_376, 1_280,
                                                                  1_728_000, 3_456_000, "virtexuplus", "Alveo U250")),
}
TARGETS.update({name: Target(name, f"{what}, {s.clock_mhz:g} MHz (Vitis HLS C++, C-simulation here)", "hls", s)
                for name, (what, s) in _FPGA.items()})
# target="hls": the ZCU104's ZU7EV, a mid-size part most of the zoo fits in either architecture.
TARGETS["hls"] = replace(TARGETS["zcu104"], name="hls",
                         description="FPGA default: the ZCU104's ZU7EV, 200 MHz (Vitis HLS C++, C-simulation here)")


def get_target(name: str) -> Target:
    if isinstance(name, Target):
        return name
    if name not in TARGETS:
        raise TargetError(f"unknown target {name!r}; valid targets: {', '.join(TARGETS)} "
                          "(`edgelower targets` describes them)")
    return TARGETS[name]
