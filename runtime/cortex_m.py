"""Cortex-M firmware: the generated C cross-compiled with arm-none-eabi-gcc, run and measured under qemu-system-arm.

Two images are linked from the same objects (model, runtime, firmware/startup.c), cached by content like host
builds (same digest, cache folder and atomic writes as `loader`):

- `run.elf` runs: the generated `main.c` harness, newlib's rdimon crt0 and `firmware/probe.c`, which wraps
  `<prefix>_invoke` (-Wl,--wrap). QEMU runs it with semihosting: the harness's fopen/fread/fwrite become file
  operations on the host, relative to QEMU's working directory (a fresh temporary directory holding `in<i>.bin`
  and receiving `out<i>.bin`), argv comes from `-semihosting-config arg=...` and main's return value is QEMU's exit
  status.
- `size.elf` is never run: `firmware/deploy.c` calls `<prefix>_invoke()` and nothing else, with no C library
  start-up (nano/nosys specs, -nostartfiles), so its sizes are what the model costs a firmware image: code of the
  kernels it calls and of the libm/libgcc routines they need, weights, arena.

A build is measured once, on zero inputs, with the instruction-count plugin (`qemu/insn_count.c`): instructions
per inference (counted between two calls of the probe's marker function around invoke) and the stack high-water
mark of invoke (the probe paints the free stack). The report then holds
    flash_bytes = text + rodata + .data load image of size.elf     (arm-none-eabi-size: text + data)
    sram_bytes  = .data + .bss of size.elf + stack high-water mark (.bss holds the arena)
and a target's budgets are checked against them: MemoryBudgetError names each overflow in bytes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from edgelower.errors import BuildError, ExecutionError, MemoryBudgetError, TargetError
from edgelower.runtime import INCLUDE_DIR, RUNTIME_DIR
from edgelower.runtime import loader
from edgelower.backends.artifact import IOSpec
from edgelower.targets import Machine, Target

FIRMWARE_DIR = RUNTIME_DIR / "firmware"
FIRMWARE_SOURCES = ("startup.c", "semihosting.c", "deploy.c", "probe.c")
PLUGIN_SOURCE = RUNTIME_DIR / "qemu" / "insn_count.c"
QEMU = "qemu-system-arm"
HARNESS = loader.HARNESS
# What `make test` installs (apt-get); tests that need them skip naming these.
DEBIAN_PACKAGES = ("gcc-arm-none-eabi", "libnewlib-arm-none-eabi", "qemu-system-arm")
FAULT_STATUS = 99  # firmware/startup.c: any fault or unexpected exception ends a semihosted run with it
_EXIT_MEANING = {1: "an input or output file could not be read or written", 2: "wrong number of arguments",
                 3: "invoke returned an error (1: a gather index out of range)",
                 FAULT_STATUS: "the core took a fault (HardFault, UsageFault, ...) or an unexpected exception"}
_PROBE = re.compile(r"^edgelower-probe: stack_bytes=(\d+)( overflow)?\r?$", re.M)


# --- what is needed ----------------------------------------------------------------------------------------------

def missing_packages(target: Target) -> list[str]:
    """Debian packages this machine lacks for building and running `target` (empty when all is there)."""
    gcc = shutil.which(target.settings.cc) is not None
    present = {"gcc-arm-none-eabi": gcc,
               # Without newlib the compiler still runs but finds no specs file: it echoes the bare name back.
               "libnewlib-arm-none-eabi": gcc and os.path.isabs(_print_file_name(target.settings.cc, "rdimon.specs")),
               "qemu-system-arm": shutil.which(QEMU) is not None}
    return [package for package in DEBIAN_PACKAGES if not present[package]]


def _print_file_name(cc: str, name: str) -> str:
    return subprocess.run([cc, f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()


def check_toolchain(target: Target) -> None:
    missing = missing_packages(target)
    if missing:
        raise TargetError(
            f"target {target.name} needs arm-none-eabi-gcc with newlib and {QEMU}; missing Debian package(s): "
            f"{' '.join(missing)}. Install them with `apt-get install --no-install-recommends {' '.join(missing)}` "
            "(`make test` does this when run as root).")


def _binutil(target: Target, tool: str) -> str:
    """arm-none-eabi-gcc -> arm-none-eabi-<tool>: binutils come with the compiler's package."""
    return target.settings.cc[: -len("gcc")] + tool if target.settings.cc.endswith("gcc") else tool


# --- sources -----------------------------------------------------------------------------------------------------

def linker_script(machine: Machine, unbounded: bool = False) -> str:
    """firmware/sections.ld under the MEMORY block of `machine`; `unbounded` keeps the origins but makes both
    regions 256 MiB, for measuring images that may not fit."""
    flash, ram = (256 * 1024 * 1024,) * 2 if unbounded else (machine.flash_bytes, machine.ram_bytes)
    memory = (f"/* Memory of QEMU {machine.name} ({machine.cpu}); edgelower writes this block per machine. */\n"
              "MEMORY\n{\n"
              f"    FLASH (rx) : ORIGIN = 0x{machine.flash_origin:08X}, LENGTH = {flash // 1024}K\n"
              f"    RAM (rwx) : ORIGIN = 0x{machine.ram_origin:08X}, LENGTH = {ram // 1024}K\n"
              "}\n\n")
    return memory + (FIRMWARE_DIR / "sections.ld").read_text()


def support_files(target: Target) -> dict[str, str]:
    """The firmware sources a Cortex-M build and a saved project add to the model: {relative path: text}."""
    files = {f"firmware/{name}": (FIRMWARE_DIR / name).read_text() for name in FIRMWARE_SOURCES}
    files["firmware/link.ld"] = linker_script(target.settings.machine)
    return files


# --- building ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sizes:
    """Berkeley sizes of size.elf: `text` is code + rodata (+ vectors, exidx); `data` is stored in flash and
    copied to RAM; `bss` (the arena is here) is RAM only."""

    text: int
    data: int
    bss: int

    @property
    def flash(self) -> int:
        return self.text + self.data

    @property
    def static_ram(self) -> int:
        return self.data + self.bss


@dataclass(frozen=True)
class Measurement:
    """One run of run.elf under the instruction-count plugin."""

    instructions: int      # between the probe's markers: one invoke, plus 3 or 4 instructions calling around it
    stack_bytes: int       # stack high-water mark of invoke
    executed: int          # the whole run: C start-up, file I/O through semihosting, exit


@dataclass(frozen=True)
class Firmware:
    target: Target
    folder: Path
    sizes: Sizes
    marker: int            # guest address of el_probe_marker in run.elf
    measurement: Measurement

    @property
    def run_elf(self) -> Path:
        return self.folder / "run.elf"

    @property
    def size_elf(self) -> Path:
        return self.folder / "size.elf"

    @property
    def sram_bytes(self) -> int:
        return self.sizes.static_ram + self.measurement.stack_bytes

    def report_fields(self) -> dict:
        return {"flash_bytes": self.sizes.flash, "sram_bytes": self.sram_bytes,
                "stack_bytes": self.measurement.stack_bytes, "instructions": self.measurement.instructions}


def build_firmware(files: Mapping[str, str | bytes], spec: IOSpec, target: Target, timeout: float = 300.0) -> Firmware:
    """Cross-compile, link size.elf and run.elf, check `target`'s budgets and measure one run; all cached by
    content. Raises TargetError (tools missing), BuildError, MemoryBudgetError or ExecutionError."""
    check_toolchain(target)
    support = support_files(target)
    # The plugin's source is in the key too: the measurement is cached with the build.
    key = loader._digest(files, loader.runtime_sources(), support, target.settings.cflags, _SIZE_LINK, _RUN_LINK,
                         loader.compiler_version(target.settings.cc), repr(target.settings.machine), spec.prefix,
                         PLUGIN_SOURCE.read_text(), "firmware")
    folder = loader.cache_root() / f"firmware-{key}"
    record = folder / "firmware.json"
    if not record.exists():
        objects = _compile_objects(files, support, spec.prefix, target, folder)
        sizes = _link_size_image(objects, target, folder)
        _check_budget(target, sizes, None)  # before the run image, which would not link if the model overflows
        marker = _link_run_image(objects, spec.prefix, target, sizes, folder)
        measurement = measure(folder / "run.elf", marker, target, spec, timeout=timeout)
        loader._write_atomic(record, json.dumps({"sizes": asdict(sizes), "marker": marker,
                                                 "measurement": asdict(measurement)}, indent=1))
    saved = json.loads(record.read_text())
    firmware = Firmware(target, folder, Sizes(**saved["sizes"]), saved["marker"], Measurement(**saved["measurement"]))
    _check_budget(target, firmware.sizes, firmware.measurement.stack_bytes)
    return firmware


@dataclass(frozen=True)
class _Objects:
    model: list[str]       # object files in the build folder, without the harness
    runtime: list[str]     # the cached runtime objects, absolute


def _compile_objects(files: Mapping[str, str | bytes], support: Mapping[str, str], prefix: str, target: Target,
                     folder: Path) -> _Objects:
    (folder / "firmware").mkdir(parents=True, exist_ok=True)
    for name, text in sorted({**files, **support}.items()):
        loader._write_atomic(folder / name, text)
    model = loader.model_sources(files, (HARNESS,))
    units = {Path(name).stem + ".o": (name, ()) for name in [*model, HARNESS]}
    units.update({"startup.o": ("firmware/startup.c", ()),
                  "startup_semihosting.o": ("firmware/startup.c", ("-DEL_SEMIHOSTING",)),
                  "semihosting.o": ("firmware/semihosting.c", ()),
                  "probe.o": ("firmware/probe.c", (f"-DEL_PREFIX={prefix}",)),
                  "deploy.o": ("firmware/deploy.c", (f"-DEL_PREFIX={prefix}",))})
    runtime = loader._runtime_objects(target.settings.cflags, target.settings.cc, pic=False)
    includes = (f"-I{folder}", f"-I{INCLUDE_DIR}")
    with ThreadPoolExecutor(max_workers=max(1, min(len(units), os.cpu_count() or 1))) as pool:
        futures = [pool.submit(loader._compile, [target.settings.cc, *target.settings.cflags, *defines, *includes, "-c", source],
                               folder / obj, folder) for obj, (source, defines) in units.items()]
        for f in futures:
            f.result()
    return _Objects([Path(name).stem + ".o" for name in model], [str(o) for o in runtime])


# How the two images are linked (part of the cache key). size.elf has no C library start-up: -nostartfiles drops
# crt0, whose _init/_fini the bare startup never calls. run.elf wraps main for firmware/semihosting.c.
_SIZE_LINK = ("--specs=nano.specs", "--specs=nosys.specs", "-nostartfiles")
_RUN_LINK = ("--specs=nano.specs", "--specs=rdimon.specs", "-Wl,--wrap=main")


def _link(objects: _Objects, target: Target, folder: Path, script: str, flags: list[str], extra: list[str],
          out: str) -> None:
    loader._compile([target.settings.cc, *target.settings.cflags, "-T", script, "-Wl,--gc-sections", *flags, *objects.model, *extra,
                     *objects.runtime, "-lm"], folder / out, folder)


def _link_size_image(objects: _Objects, target: Target, folder: Path) -> Sizes:
    # Linked with room to spare, so that a model too big for the machine gets a MemoryBudgetError with its sizes
    # rather than a linker error; the addresses, and so the sizes, are those of firmware/link.ld.
    loader._write_atomic(folder / "size.ld", linker_script(target.settings.machine, unbounded=True))
    _link(objects, target, folder, "size.ld", list(_SIZE_LINK), ["deploy.o", "startup.o"], "size.elf")
    return _sizes(target, folder / "size.elf")


def _link_run_image(objects: _Objects, prefix: str, target: Target, sizes: Sizes, folder: Path) -> int:
    """Link run.elf; returns the address of the probe's marker function. newlib-nano, as in size.elf: the kernels
    call the same memcpy/memset in both images, and the harness's stdio costs the least RAM."""
    try:
        _link(objects, target, folder, "firmware/link.ld", [*_RUN_LINK, f"-Wl,--wrap={prefix}_invoke"],
              ["main.o", "startup_semihosting.o", "semihosting.o", "probe.o"], "run.elf")
    except BuildError as e:
        overflow = re.search(r"region `(\w+)' overflowed by (\d+) bytes", str(e))
        if overflow is None:
            raise
        machine = target.settings.machine
        raise MemoryBudgetError(
            f"the model alone fits {target.name} (flash {sizes.flash:,} bytes, static RAM {sizes.static_ram:,}), "
            f"but with the QEMU harness around it (semihosted stdio, argv) the {overflow[1]} region of "
            f"{machine.name} overflows by {int(overflow[2]):,} bytes, so it cannot be run or measured there. "
            "Nothing was written.") from None
    return _symbol(target, folder / "run.elf", "el_probe_marker")


def _sizes(target: Target, elf: Path) -> Sizes:
    out = _tool_output([_binutil(target, "size"), "-B", "-d", str(elf)])
    text, data, bss = (int(v) for v in out.splitlines()[1].split()[:3])
    return Sizes(text, data, bss)


def _symbol(target: Target, elf: Path, name: str) -> int:
    for line in _tool_output([_binutil(target, "nm"), str(elf)]).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16) & ~1  # the Thumb bit is not part of the instruction's address
    raise BuildError(f"{elf} has no symbol {name}")


def _tool_output(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def _check_budget(target: Target, sizes: Sizes, stack: int | None) -> None:
    """Static sizes are checked before anything runs; the stack is added once measured."""
    sram = sizes.static_ram + (stack or 0)
    what = "data + bss" + (" + stack" if stack is not None else "")
    over = [f"{kind} needs {need:,} bytes of {budget:,} (over by {need - budget:,})"
            for kind, need, budget in (("flash (text + rodata + data)", sizes.flash, target.flash_bytes),
                                       (f"SRAM ({what})", sram, target.sram_bytes))
            if budget is not None and need > budget]
    if over:
        raise MemoryBudgetError(f"the model does not fit {target.name}: {'; '.join(over)}. Nothing was written. "
                                "Choose a target with more memory (`edgelower targets`) or a smaller model.")


def plugin_library() -> Path:
    """The instruction-count plugin, built with the host compiler into the cache."""
    source = PLUGIN_SOURCE.read_text()
    key = loader._digest({PLUGIN_SOURCE.name: source}, loader.compiler_version("cc"), "qemu-plugin")
    out = loader.cache_root() / f"qemu-plugin-{key}" / "libinsn_count.so"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        loader._compile(["cc", *loader.CFLAGS, "-shared", "-fPIC", str(PLUGIN_SOURCE)], out, out.parent)
    return out


# --- running -----------------------------------------------------------------------------------------------------

def _qemu_option(text: str) -> str:
    return text.replace(",", ",,")  # QEMU's option syntax: a doubled comma is a literal one


def run_firmware(elf: Path, target: Target, spec: IOSpec, inputs: Sequence[np.ndarray], timeout: float = 120.0,
                 plugin: Sequence[str] = ()) -> tuple[list[np.ndarray], str]:
    """Run a harness image under QEMU on raw input files, optionally with a TCG plugin (its path, then its
    key=value arguments); returns the outputs and QEMU's console output. A non-zero exit status or a timeout
    raises ExecutionError carrying that output."""
    arrays = spec.check_inputs(inputs)
    machine = target.settings.machine
    with tempfile.TemporaryDirectory(prefix="edgelower-qemu-") as tmp:
        ins = [f"in{i}.bin" for i in range(len(arrays))]
        outs = [f"out{i}.bin" for i in range(len(spec.outputs))]
        for name, a in zip(ins, arrays):
            (Path(tmp) / name).write_bytes(a.tobytes())
        # Relative names: semihosting opens them in QEMU's working directory, and newlib's argv buffer is short.
        argv = ",".join(f"arg={a}" for a in [spec.prefix, *ins, *outs])
        cmd = [QEMU, "-M", machine.name, "-cpu", machine.cpu, "-nographic", "-monitor", "none",
               "-semihosting-config", f"enable=on,target=native,{argv}", "-kernel", str(elf)]
        if plugin:
            cmd += ["-plugin", ",".join(_qemu_option(p) for p in plugin)]
        try:
            # stdin closed: with -nographic QEMU would otherwise put a controlling terminal into raw mode.
            proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            output = "".join(_text(s) for s in (e.stdout, e.stderr))
            raise ExecutionError(f"{elf} on QEMU {machine.name} did not finish within {timeout:g} s "
                                 f"(a hang, or a model too slow for the emulator: pass a longer timeout):\n"
                                 f"$ {' '.join(cmd)}\n{output}") from None
        output = proc.stdout + proc.stderr
        if proc.returncode != 0:
            meaning = _EXIT_MEANING.get(proc.returncode, "")
            raise ExecutionError(f"{elf} on QEMU {machine.name} exited with status {proc.returncode}"
                                 f"{f' ({meaning})' if meaning else ''}:\n$ {' '.join(cmd)}\n{output}")
        return [np.fromfile(Path(tmp) / name, dtype=s.dtype).reshape(s.shape)
                for name, s in zip(outs, spec.outputs)], output


def _text(data: str | bytes | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def measure(elf: Path, marker: int, target: Target, spec: IOSpec, inputs: Sequence[np.ndarray] | None = None,
            timeout: float = 300.0) -> Measurement:
    """Run `elf` once (on zeros by default) under the instruction-count plugin."""
    if inputs is None:
        inputs = [np.zeros(s.shape, s.dtype) for s in spec.inputs]
    with tempfile.TemporaryDirectory(prefix="edgelower-count-") as tmp:
        counts = Path(tmp) / "counts.txt"
        _, output = run_firmware(elf, target, spec, inputs, timeout=timeout,
                                 plugin=[str(plugin_library()), f"marker=0x{marker:x}", f"out={counts}"])
        if not counts.exists():
            raise ExecutionError(f"{elf}: the instruction-count plugin wrote nothing:\n{output}")
        record = dict(line.split(" ", 1) for line in counts.read_text().splitlines())
    marks = [int(m) for m in record["marks"].split()] if "dropped" not in record["marks"] else []
    probes = _PROBE.findall(output)
    if len(marks) != 2 or len(probes) != 1:
        raise ExecutionError(f"{elf}: expected one invoke between two markers, got marks {record['marks']!r} and "
                             f"{len(probes)} probe line(s):\n{output}")
    stack, overflow = probes[0]
    if overflow:
        raise ExecutionError(f"{elf}: invoke used all {stack} bytes of stack the probe could paint; its "
                             "high-water mark is unknown")
    return Measurement(instructions=marks[1] - marks[0], stack_bytes=int(stack), executed=int(record["executed"]))


class QemuModel:
    """A built firmware image, run under QEMU on each call (one process per inference)."""

    def __init__(self, firmware: Firmware, spec: IOSpec, timeout: float = 120.0):
        self.firmware, self.spec, self.timeout = firmware, spec, timeout

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        outputs, _ = run_firmware(self.firmware.run_elf, self.firmware.target, self.spec, inputs, self.timeout)
        return outputs

    __call__ = run

    def measure(self, inputs: Sequence[np.ndarray] | None = None) -> Measurement:
        return measure(self.firmware.run_elf, self.firmware.marker, self.firmware.target, self.spec, inputs,
                       self.timeout)


__all__ = ["DEBIAN_PACKAGES", "Firmware", "Measurement", "QemuModel", "Sizes", "build_firmware",
           "check_toolchain", "linker_script", "measure", "missing_packages", "plugin_library", "run_firmware",
           "support_files"]
