"""Cortex-M targets, really cross-compiled with arm-none-eabi-gcc and really run on QEMU's Cortex-M machines.

The firmware must give the host build's float32 outputs bit for bit: both sides compile the same C99 with
-ffp-contract=off, and every kernel rounds each IEEE operation the same way on an FPU, in libgcc's soft float and
on x86-64. The one exception is libm: newlib's tanhf/expf built for FPU cores uses fused multiply-adds and may
differ from glibc's in the last bit, so models with transcendental functions get a 1e-6 relative bound.

Each module run builds into a fresh cache, so the compiler, the linker and QEMU really run.
"""

from __future__ import annotations

import functools
import re
import subprocess

import numpy as np
import pytest
import torch
from torch import nn

from edgelower import cli, zoo
from edgelower.frontend.capture import capture_module
from edgelower.compiled import load
from edgelower.driver import compile_graph
from edgelower.errors import ExecutionError, MemoryBudgetError, TargetError
from edgelower.runtime import cortex_m
from edgelower.targets import TARGETS

_MISSING = cortex_m.missing_packages(TARGETS["cortex-m4"])
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"needs the Debian packages {' '.join(_MISSING)} "
                                                         "(`make test` installs them as root)")

BIT_EXACT = {"mlp", "ds-cnn", "two-tower"}  # no transcendental functions
CASES = ([(name, core) for name in ("mlp", "lenet5", "ds-cnn", "two-tower")
          for core in ("cortex-m3", "cortex-m4", "cortex-m7", "cortex-m55")]
         # The micro:bit's 16 KiB of RAM holds only the two smallest (lenet5's arena alone is 37 KiB).
         + [("mlp", "cortex-m0"), ("two-tower", "cortex-m0")])


@pytest.fixture(autouse=True, scope="module")
def build_cache(fresh_build_cache):
    """Every module builds into a cache of its own (conftest.py), so the compiler really runs."""


@functools.lru_cache(maxsize=None)
def captured(name: str):
    """The zoo model's graph (captured once per worker), its example inputs and the host build's outputs."""
    model, example = zoo.get(name)
    graph = capture_module(model, example)
    inputs = [x.numpy() for x in example]
    return graph, inputs, compile_graph(graph, "host").run_numpy(inputs)


def compiled(name: str, target: str):
    graph, inputs, host = captured(name)
    return compile_graph(graph, target), inputs, host


@pytest.mark.parametrize("name,target", CASES)
def test_firmware_gives_the_host_outputs(name, target):
    cm, inputs, host = compiled(name, target)
    got = cm.run_numpy(inputs)
    for g, h in zip(got, host):
        assert g.shape == h.shape and g.dtype == h.dtype
        if name in BIT_EXACT:
            np.testing.assert_array_equal(g.view(np.uint32), h.view(np.uint32), err_msg=f"{name} on {target}")
        else:
            np.testing.assert_allclose(g, h, rtol=1e-6, atol=1e-6 * float(np.abs(h).max()))
    report = cm.report
    assert report.target == target and report.instructions > report.macs > 0


def test_sizes_and_stack_come_from_the_elf():
    cm, _, _ = compiled("ds-cnn", "cortex-m4")
    r = cm.report
    # Weights are the bulk of flash; the kernels a model calls (--gc-sections drops the rest) add a few KiB.
    assert r.weight_bytes <= r.flash_bytes <= r.weight_bytes + 16 * 1024
    # .bss is the arena; the stack of one inference, measured by painting it, is small and positive.
    assert 0 < r.stack_bytes < 1024
    assert r.arena_bytes + r.stack_bytes <= r.sram_bytes <= r.arena_bytes + r.stack_bytes + 256
    sizes = cm.artifact.firmware.sizes
    assert (r.flash_bytes, r.sram_bytes) == (sizes.text + sizes.data, sizes.data + sizes.bss + r.stack_bytes)
    # The arena really is in RAM and the weights in flash, per the machine's memory map.
    nm = subprocess.run(["arm-none-eabi-nm", "-S", str(cm.artifact.firmware.size_elf)], capture_output=True, text=True,
                        check=True).stdout
    symbols = {parts[3]: (int(parts[0], 16), int(parts[1], 16)) for parts in map(str.split, nm.splitlines())
               if len(parts) == 4}
    machine = cm.target.settings.machine
    address, size = symbols["model_arena"]
    assert size == r.arena_bytes and machine.ram_origin <= address < machine.ram_origin + machine.ram_bytes
    weights = [s for s in symbols if s.startswith("k_")]
    assert weights and all(symbols[s][0] < machine.flash_origin + machine.flash_bytes for s in weights)
    assert sum(symbols[s][1] for s in weights) == r.weight_bytes


def test_a_slower_core_takes_more_instructions_for_the_same_model():
    per_mac = {core: compiled("mlp", core)[0].report.instructions_per_mac
               for core in ("cortex-m0", "cortex-m3", "cortex-m4")}
    # Float in software (M0, M3) costs tens of instructions per MAC; the M4's FPU a handful.
    assert per_mac["cortex-m0"] > per_mac["cortex-m3"] > 5 * per_mac["cortex-m4"] > 5


def test_instruction_counts_are_deterministic():
    cm, inputs, _ = compiled("two-tower", "cortex-m4")
    firmware = cm.artifact.firmware
    first = cortex_m.measure(firmware.run_elf, firmware.marker, cm.target, cm.spec, inputs)
    second = cortex_m.measure(firmware.run_elf, firmware.marker, cm.target, cm.spec, inputs)
    assert first == second
    # The build measured zeros; the same count again on zeros.
    zeros = cortex_m.measure(firmware.run_elf, firmware.marker, cm.target, cm.spec)
    assert zeros.instructions == cm.report.instructions and zeros.stack_bytes == cm.report.stack_bytes
    assert zeros.executed > zeros.instructions  # the whole run adds start-up and file I/O


def test_unknown_target_lists_the_valid_ones():
    graph, _, _ = captured("mlp")
    with pytest.raises(TargetError, match="unknown target 'cortex-m5'") as info:
        compile_graph(graph, "cortex-m5")
    for name in TARGETS:
        assert name in str(info.value)


def test_missing_toolchain_names_the_debian_packages(monkeypatch, tmp_path):
    graph, _, _ = captured("mlp")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TargetError, match="gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"):
        compile_graph(graph, "cortex-m4")
    # With the compiler and newlib but no emulator, only the emulator is named.
    gcc = subprocess.run(["sh", "-c", "command -v arm-none-eabi-gcc"], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"}).stdout.strip()
    (tmp_path / "arm-none-eabi-gcc").symlink_to(gcc)
    with pytest.raises(TargetError, match=r"missing Debian package\(s\): qemu-system-arm\."):
        compile_graph(graph, "cortex-m4")


def _big_activations():
    """A conv whose 1 MiB output overflows the nRF52840's 256 KiB of SRAM; its weights are tiny."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU()).eval(), (torch.randn(1, 3, 128, 128),)


def test_a_model_too_big_for_a_board_names_the_overflow(tmp_path):
    model, example = _big_activations()
    graph = capture_module(model, example)
    with pytest.raises(MemoryBudgetError) as info:
        compile_graph(graph, "nrf52840")
    message = str(info.value)
    need, budget, over = (int(v.replace(",", "")) for v in re.search(
        r"SRAM \(data \+ bss\) needs ([\d,]+) bytes of ([\d,]+) \(over by ([\d,]+)\)", message).groups())
    arena = compile_graph(graph, "host").report.arena_bytes
    assert budget == TARGETS["nrf52840"].sram_bytes and need - budget == over and need >= arena
    assert "flash" not in message.split("Nothing")[0]  # 1.8 KiB of weights fit
    # Flash too: 300 KiB of weights on the Cortex-M0's 256 KiB.
    wide = capture_module(nn.Linear(256, 300).eval(), (torch.randn(1, 256),))
    with pytest.raises(MemoryBudgetError, match=r"cortex-m0: flash \(text \+ rodata \+ data\) needs [\d,]+ bytes "
                                                r"of 262,144 \(over by [\d,]+\)\. Nothing was written"):
        compile_graph(wide, "cortex-m0")


def test_the_cli_writes_nothing_for_a_model_that_does_not_fit(tmp_path, capsys):
    factory = tmp_path / "big.py"
    factory.write_text("import torch\nfrom torch import nn\n\n\ndef big():\n    torch.manual_seed(0)\n"
                       "    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1)), (torch.randn(1, 3, 128, 128),)\n")
    out = tmp_path / "out"
    assert cli.main(["compile", f"{factory}:big", "--target", "nrf52840", "-o", str(out)]) == 2
    assert not out.exists()


def test_saved_project_builds_with_make_and_runs_from_the_cli(tmp_path):
    cm, inputs, host = compiled("two-tower", "cortex-m55")
    project = cm.save(tmp_path / "project")
    assert {"firmware/startup.c", "firmware/link.ld", "firmware/deploy.c", "firmware/semihosting.c"} <= {
        str(p.relative_to(project)) for p in project.rglob("*")}
    make = subprocess.run(["make", "-s", "-C", str(project), "size"], capture_output=True, text=True, check=True)
    text, data, bss = (int(v) for v in make.stdout.splitlines()[-1].split()[:3])
    assert (text + data, data + bss) == (cm.report.flash_bytes, cm.report.sram_bytes - cm.report.stack_bytes)
    names = [f"in{i}.bin" for i in range(len(inputs))], [f"out{i}.bin" for i in range(len(host))]
    for name, x in zip(names[0], inputs):
        x.tofile(project / name)
    subprocess.run(["make", "-s", "-C", str(project), "run", f"IN={' '.join(names[0])}", f"OUT={' '.join(names[1])}"],
                   capture_output=True, text=True, check=True)
    for name, h in zip(names[1], host):
        np.testing.assert_array_equal(np.fromfile(project / name, h.dtype).reshape(h.shape), h)
    # `edgelower run DIR` rebuilds from the manifest's target and runs on QEMU.
    for i, x in enumerate(inputs):
        np.save(tmp_path / f"x{i}.npy", x)
    saved = [str(tmp_path / f"y{i}.npy") for i in range(len(host))]
    args = ["run", str(project), *[a for i in range(len(inputs)) for a in ("--input", str(tmp_path / f"x{i}.npy"))],
            *[a for s in saved for a in ("--save-outputs", s)]]
    assert cli.main(args) == 0
    for s, h in zip(saved, host):
        np.testing.assert_array_equal(np.load(s), h)
    assert load(project).report == cm.report


def test_run_failures_raise_with_qemu_output():
    graph = capture_module(*zoo.get("embed-classifier"))
    cm = compile_graph(graph, "cortex-m4")
    bad = np.full(cm.inputs[0].shape, 10_000, np.int64)  # token ids past the 256-row table
    with pytest.raises(ExecutionError, match=r"exited with status 3 \(invoke returned an error(.|\n)*"
                                             r"model_invoke failed with status 1"):
        cm.run_numpy([bad])
    slow = cortex_m.QemuModel(cm.artifact.firmware, cm.spec, timeout=0.001)
    with pytest.raises(ExecutionError, match="did not finish within 0.001 s"):
        slow.run([np.zeros(cm.inputs[0].shape, np.int64)])


def test_both_weight_forms_give_the_same_image_and_a_c_form_project_builds_with_make(tmp_path):
    """The .S + .bin (default) and the hex-string .c put the same bytes at the same offsets: the same flash, SRAM
    and instruction count; a project saved with the C form builds with its own Makefile to those sizes."""
    cm, inputs, host = compiled("two-tower", "cortex-m4")
    as_c = compile_graph(captured("two-tower")[0], "cortex-m4", weights="c")
    assert "model_weights.c" in as_c.files and "model_weights.S" in cm.files
    for field in ("flash_bytes", "sram_bytes", "stack_bytes", "instructions"):
        assert getattr(as_c.report, field) == getattr(cm.report, field), field
    for got, want in zip(as_c.run_numpy(inputs), host):
        np.testing.assert_array_equal(got, want)
    project = as_c.save(tmp_path / "project")
    make = subprocess.run(["make", "-s", "-C", str(project), "size"], capture_output=True, text=True, check=True)
    text, data, bss = (int(v) for v in make.stdout.splitlines()[-1].split()[:3])
    assert (text + data, data + bss) == (cm.report.flash_bytes, cm.report.sram_bytes - cm.report.stack_bytes)
