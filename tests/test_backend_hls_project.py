"""The HLS backend's project and front door: what `cm.save` writes (a Vitis HLS project whose own testbench passes
on its test vectors), `edgelower.load`, the estimates in the report, the synthesizable style of every line of C++
it emits or ships, and the clear errors: a float graph, an op without a kernel, a design over the part, the ap_types
headers missing, each before anything is written."""

from __future__ import annotations

import re
import subprocess
import torch

import numpy as np
import pytest

import edgelower
from edgelower import zoo
from edgelower.backends.hls import HlsOptions
from edgelower.backends.hls.csim import CXXFLAGS, HLS_DIR, HlsToolError, ap_types_dir
from edgelower.backends.hls.estimate import ResourceError
from edgelower.errors import BackendUnsupportedError
from edgelower.targets import TARGETS, get_target

from test_backend_hls import pytestmark  # noqa: F401  (skips without g++ and the ap_types headers)


@pytest.fixture(autouse=True, scope="module")
def build_cache(fresh_build_cache):
    """This module's builds go to a cache of its own (conftest.py), so g++ really runs."""


def jet_mlp() -> torch.nn.Module:
    """hls4ml's jet-tagging benchmark network: 16-64-32-32-5, ReLU (Duarte et al. 2018)."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 32), torch.nn.ReLU(),
                               torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, 5)).eval()


def compile_jet(**options):
    x = torch.randn(1, 16)
    return edgelower.compile(jet_mlp(), (x,), quantize="int8", calibration=[torch.randn(1, 16) for _ in range(8)],
                             **{"target": "hls", **options})


def cache_entries() -> set:
    """The build cache's builds: compiled C-simulation binaries, not the compile cache's emitted sources."""
    from edgelower.runtime.loader import cache_root

    return {p for p in cache_root().glob("*") if not p.name.startswith("emitted-")} if cache_root().exists() else set()


# --- targets -------------------------------------------------------------------------------------------------

def test_fpga_targets_are_data_with_parts_clocks_and_budgets():
    names = {"hls", "pynq-z2", "ultra96", "zcu104", "kv260", "alveo-u250"}
    assert names <= {t.name for t in TARGETS.values() if t.backend == "hls"}
    assert get_target("pynq-z2").settings.part == "xc7z020clg400-1"
    assert (get_target("pynq-z2").settings.dsp, get_target("pynq-z2").settings.bram_18k) == (220, 280)
    assert get_target("hls").settings == get_target("zcu104").settings
    for name in names:
        s = get_target(name).settings
        assert s.clock_mhz > 0 and min(s.dsp, s.bram_18k, s.lut, s.ff) > 0 and s.uram >= 0
        assert s.part in s.runs_on and "ap_types" in s.needs


# --- the project -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_saved_project_is_a_vitis_project_whose_testbench_passes(tmp_path, io_type):
    cm = compile_jet(io_type=io_type)
    out = cm.save(tmp_path / "jet")
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"model.cpp", "model.h", "parameters.h", "weights.h", "model_test.cpp", "build_prj.tcl",
            "tb_data/input_0.bin", "tb_data/output_0.bin", "hls/el_hls.h", "manifest.json"} <= files
    tcl = (out / "build_prj.tcl").read_text()
    for line in ("set_top model", "set_part {xczu7ev-ffvc1156-2-e}", "create_clock -period 5", "csim_design",
                 "csynth_design", "cosim_design", "export_design -format ip_catalog", "add_files -tb tb_data"):
        assert line in tcl
    top = (out / "model.cpp").read_text()
    if io_type == "io_stream":
        assert "#pragma HLS INTERFACE axis port=input_0" in top and "#pragma HLS DATAFLOW" in top
    else:
        assert "#pragma HLS INTERFACE m_axi port=input_0" in top and "s_axilite port=return" in top
    assert "static constexpr int reuse_factor" in (out / "parameters.h").read_text()
    # What Vitis's csim_design does: the testbench without arguments, on the saved test vectors.
    exe = tmp_path / "csim"
    subprocess.run(["g++", *CXXFLAGS, "-isystem", str(ap_types_dir()), "-I.", "-Ihls", "model.cpp",
                    "model_test.cpp", "-o", str(exe)], cwd=out, check=True)
    run = subprocess.run([str(exe)], cwd=out, capture_output=True, text=True)
    assert run.returncode == 0 and "0 mismatching output values" in run.stdout
    loaded = edgelower.load(out)
    x = np.random.default_rng(0).integers(-128, 128, (1, 16)).astype(np.int8)
    np.testing.assert_array_equal(loaded.run_numpy([x])[0], cm.run_numpy([x])[0])
    assert loaded.report.extra["hls"]["dsp"] == cm.report.extra["hls"]["dsp"]


def test_rendering_is_deterministic():
    a, b = compile_jet(io_type="io_stream"), compile_jet(io_type="io_stream")
    assert a.files == b.files


# --- estimates -----------------------------------------------------------------------------------------------

def test_jet_tagging_mlp_estimate_follows_the_reuse_factor():
    """16-64-32-32-5 in io_parallel (docs/hls.md, "Estimates"): at reuse factor R a LINEAR row has
    ceil(in x out / R) multipliers and ceil(out / R) requantizers of 4 DSP each, and takes R + 8 cycles; the four
    layers run back to back."""
    layers = ((16, 64), (64, 32), (32, 32), (32, 5))
    for reuse in (1, 4):
        e = compile_jet(target="alveo-u250", reuse_factor=reuse).report.extra["hls"]
        expected = sum(-(-i * o // reuse) + 4 * -(-o // reuse) for i, o in layers)
        assert e["dsp"] == expected and [r["reuse"] for r in e["layers"]] == [reuse] * 4
        assert e["ii_cycles"] == e["latency_cycles"] == 4 * (reuse + 8)
        assert e["latency_us"] == pytest.approx(e["latency_cycles"] / 300.0, rel=1e-3)
    assert expected == 1200   # reuse 4: 1,064 multipliers and 34 requantizers


def test_report_carries_the_estimate_per_layer_and_in_total():
    cm = compile_jet()
    e = cm.report.extra["hls"]
    assert e["part"] == "xczu7ev-ffvc1156-2-e" and e["clock_mhz"] == 200.0
    for key in ("dsp", "bram_18k", "lut", "ff", "uram", "ii_cycles", "latency_cycles", "throughput_per_s"):
        assert e[key] >= 0
    assert e["dsp"] == sum(r["dsp"] for r in e["layers"]) and e["dsp"] <= e["budget"]["dsp"]
    assert {r["name"] for r in e["layers"]} == {n.name for n in cm.graph.nodes}


# --- errors, each before anything is written ---------------------------------------------------------------------

def test_float_graph_is_refused_naming_quantize_int8():
    before = cache_entries()
    with pytest.raises(BackendUnsupportedError, match='quantize="int8"'):
        edgelower.compile(jet_mlp(), (torch.randn(1, 16),), target="hls")
    assert cache_entries() == before


def test_an_op_without_a_kernel_is_refused_by_name():
    model, example = zoo.get("embed-classifier")
    before = cache_entries()
    with pytest.raises(BackendUnsupportedError, match="GATHER: gathers with indices from a tensor"):
        edgelower.compile(model, example, target="hls", quantize="int8", calibration=[example])
    assert cache_entries() == before


def test_a_design_too_big_for_the_part_names_the_resource_the_overflow_and_the_knob():
    before = cache_entries()
    with pytest.raises(ResourceError) as e:
        compile_jet(target="pynq-z2", reuse_factor=1)
    message = str(e.value)
    assert "DSP: needs" in message and "the part has 220 (over by" in message and "Nothing was written" in message
    factor = int(re.search(r"reuse_factor=(\d+)", message).group(1))
    assert cache_entries() == before
    cm = compile_jet(target="pynq-z2", reuse_factor=factor)
    assert cm.report.extra["hls"]["dsp"] <= 220
    if factor > 1:
        with pytest.raises(ResourceError):
            compile_jet(target="pynq-z2", reuse_factor=factor - 1)


def test_missing_ap_types_headers_are_a_clear_error_and_nothing_is_built(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "hls4ml" else real(name, *a))
    monkeypatch.setenv("EDGELOWER_AP_TYPES", str(tmp_path / "nowhere"))
    monkeypatch.delenv("XILINX_HLS", raising=False)
    before = cache_entries()
    cm = compile_jet()                 # the project is complete without them: Vitis brings its own
    with pytest.raises(HlsToolError, match=r"pip install 'edgelower\[hls\]'"):
        cm.run_numpy([np.zeros((1, 16), np.int8)])
    assert cache_entries() == before
    assert cm.save(tmp_path / "project").joinpath("build_prj.tcl").is_file()


def test_options_are_checked():
    with pytest.raises(ValueError, match="io_type"):
        HlsOptions(io_type="io_serial")
    with pytest.raises(ValueError, match="reuse_factor"):
        HlsOptions(reuse_factor=0)
    with pytest.raises(TypeError, match="unknown compile option"):
        compile_jet(reuse=2)


# --- synthesizable style -----------------------------------------------------------------------------------------

FORBIDDEN = {
    r"\bnew\b|\bdelete\b|\bmalloc\b|\bcalloc\b|\brealloc\b|\bfree\s*\(": "dynamic allocation",
    r"\bwhile\b|\bgoto\b": "an unbounded loop",
    r"std::vector|std::map|std::string|#include <(vector|map|string|memory)>": "a dynamic container",
    r"void\s*\*|\*\s*\*|reinterpret_cast|\(\s*\w+\s*\*\s*\)": "a pointer HLS rejects (void *, pointer to pointer, cast)",
    r"\bfloat\b|\bdouble\b": "floating point",
}


def _synthesizable_sources(cm) -> dict[str, str]:
    """The C++ that Vitis synthesizes: the generated top and its headers, and the kernel library (not the
    testbench, which only runs in C-simulation)."""
    sources = {name: text for name, text in cm.files.items()
               if name.endswith((".cpp", ".h")) and not name.endswith("_test.cpp")}
    sources.update({f"hls/{p.name}": p.read_text() for p in HLS_DIR.glob("*.h")})
    return sources


def _code(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_generated_and_shipped_cpp_is_synthesizable_style(io_type):
    model, example = zoo.get("resnet8")
    cm = edgelower.compile(model, example, target="alveo-u250", quantize="int8", calibration=[example],
                           io_type=io_type)
    for name, text in _synthesizable_sources(cm).items():
        code = _code(text)
        for pattern, what in FORBIDDEN.items():
            match = re.search(pattern, code)
            assert match is None, f"{name}: {what}: {match.group(0)!r}"
        # every loop steps one int by one towards a bound built from constants (config members, template
        # parameters, literals): no call, no memory read in the bound
        for header in re.findall(r"for \(([^)]*)\)", code):
            init, cond, step = (part.strip() for part in header.split(";"))
            assert re.fullmatch(r"int \w+ = [\w:*/+ ()-]+", init), f"{name}: loop {header!r}"
            assert re.fullmatch(r"\w+ (<|<=|>=) [\w:*/+ -]+", cond), f"{name}: loop {header!r}"
            assert re.fullmatch(r"(\+\+|--)\w+", step), f"{name}: loop {header!r}"
        # no function calls itself
        for fn, body in re.findall(r"\b(\w+)\([^;{)]*\)\s*\{(.*?)\n\}", code, flags=re.S):
            assert not re.search(rf"\b{fn}\s*(<[^;]*?>)?\s*\(", body), f"{name}: {fn} is recursive"


def test_csim_builds_with_strict_warnings():
    assert {"-Wall", "-Wextra", "-Werror"} <= set(CXXFLAGS)
