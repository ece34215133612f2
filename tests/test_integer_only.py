"""The integer-only proof: an int8 model's generated C and the int8 kernels, built for a soft-float Cortex-M0
(`-mcpu=cortex-m0 -mthumb -mfloat-abi=soft`), contain and link no floating-point arithmetic.

On a core without an FPU every float or double operation becomes a call into libgcc's software floating point
(`__aeabi_fadd`, `__aeabi_d2iz`, `__addsf3`, `__floatsisf`, ...), and a transcendental is a libm call, so their
symbols are the proof: the relocatable objects of the int8 kernels and of the model reference none, and the image
linked from the model and the whole runtime (float kernels included: `-ffunction-sections` and `--gc-sections` keep
only what the model's invoke reaches) holds none, while the same link of a float model does. The model covers
convolution (generic, depthwise written in place, pointwise, each with its requantization fused), fully connected,
add, mul, max and average pooling, mean, requantize, clamp, hardswish, sigmoid, tanh and softmax; with QEMU the
firmware also runs on the Cortex-M0 (and on the Cortex-M4, through the DSP fast paths) and gives the integer
interpreter's bytes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from edgelower.backends.c.render import render_c
from edgelower.interp import run_graph
from edgelower.ir.graph import DType, Graph, GraphBuilder, Op, QParams, TensorType
from edgelower.passes.fuse import fuse
from edgelower.passes.memory.schedule_graph import schedule_graph
from edgelower.quant.records import SIGMOID_OUTPUT, SOFTMAX_OUTPUT, TANH_OUTPUT, AddQ, ClampQ, ConvQ, HardSwishQ, \
    LogisticQ, MeanQ, MulQ, PoolQ, RequantQ, SoftmaxQ, TanhQ
from edgelower.runtime import INCLUDE_DIR, SRC_DIR
from edgelower.backends.artifact import IOSpec, write_files
from edgelower.targets import TARGETS
from c_plan import C_PLAN

CC, NM = "arm-none-eabi-gcc", "arm-none-eabi-nm"
CORE = ("-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft")
CFLAGS = (*CORE, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-ffunction-sections",
          "-fdata-sections")
DEBIAN = "gcc-arm-none-eabi libnewlib-arm-none-eabi"

pytestmark = pytest.mark.skipif(shutil.which(CC) is None or shutil.which(NM) is None,
                                reason=f"needs the Debian packages {DEBIAN} (`apt-get install -y {DEBIAN}`)")

# libgcc's software floating point: the ARM EABI names and GCC's generic ones.
FLOAT_HELPER = re.compile(r"^__aeabi_(f|d|cf|cd|[iu]l?2[fd])|^__(float|fix|extend|trunc)\w+|^__\w+[sdt]f[23]$")
LIBM = {f"{name}{suffix}" for suffix in ("", "f", "l") for name in (
    "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "pow", "sqrt", "cbrt", "tanh", "sinh", "cosh", "sin",
    "cos", "tan", "erf", "erfc", "floor", "ceil", "round", "lround", "rint", "lrint", "nearbyint", "trunc", "fabs",
    "fmod", "frexp", "ldexp", "modf", "fmax", "fmin", "hypot", "atan", "atan2", "asin", "acos")}


def float_symbols(names: set[str]) -> set[str]:
    return {n for n in names if FLOAT_HELPER.match(n) or n in LIBM}


def symbols(path: Path, *flags: str) -> set[str]:
    out = subprocess.run([NM, *flags, str(path)], capture_output=True, text=True, check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip() and not line.endswith(":")}


# --- the model ------------------------------------------------------------------------------------------------------

S_IN, ZP_IN = 0.05, -3


class Builder:
    """int8 values with their scale and zero point, and the node constructors that lower_integer would emit."""

    def __init__(self, rng: np.random.Generator):
        self.b, self.rng = GraphBuilder("integer_only"), rng

    def value(self, name: str, scale: float, zp: int) -> str:
        t = self.b.types[name]
        self.b.types[name] = TensorType(t.shape, DType.INT8, QParams((scale,), (zp,)))
        return name

    def scale(self, name: str) -> tuple[float, int]:
        q = self.b.types[name].qparams
        return q.scale[0], q.zero_point[0]

    def conv(self, x: str, out_channels: int, kernel: int, groups: int, scale: float, zp: int) -> str:
        s_in, zp_in = self.scale(x)
        c = self.b.types[x].shape[1]
        w = self.b.constant("w", self.rng.integers(-127, 128, (out_channels, c // groups, kernel, kernel), np.int8))
        bias = self.b.constant("b", self.rng.integers(-3000, 3000, out_channels).astype(np.int32))
        pad = kernel // 2
        acc = self.b.op(Op.CONV2D, [x, w, bias], {"padding": (pad,) * 4, "groups": groups,
                                                  "q": ConvQ.from_zero_points(zp_in)})
        w_scales = [0.004 * (1 + i % 3) for i in range(out_channels)]
        rq = RequantQ.per_channel(s_in, w_scales, scale, zp, zp, 127, axis=1)
        return self.value(self.b.op(Op.REQUANTIZE, [acc], {"q": rq}), scale, zp)


def integer_model() -> tuple[Graph, list[np.ndarray]]:
    rng = np.random.default_rng(11)
    m = Builder(rng)
    b = m.b
    x = b.input("image", TensorType((1, 3, 8, 8), DType.INT8, QParams((S_IN,), (ZP_IN,))))
    conv = m.conv(x, 8, 3, 1, 0.08, -128)
    depthwise = m.conv(conv, 8, 3, 8, 0.06, -128)
    pointwise = m.conv(depthwise, 8, 1, 1, 0.07, -128)
    add = m.value(b.op(Op.ADD, [depthwise, pointwise], {"q": AddQ.from_scales(0.06, -128, 0.07, -128, 0.1, -128)}),
                  0.1, -128)
    pooled = m.value(b.op(Op.MAX_POOL2D, [add], {"kernel": (2, 2), "stride": (2, 2)}), 0.1, -128)
    avg = m.value(b.op(Op.AVG_POOL2D, [pooled], {"kernel": (2, 2), "stride": (2, 2), "q": PoolQ()}), 0.1, -128)
    swish = m.value(b.op(Op.HARDSWISH, [avg], {"q": HardSwishQ.from_scales(0.1, -128, 0.05, -20)}), 0.05, -20)
    mean = m.value(b.op(Op.MEAN, [swish], {"axes": (2, 3), "q": MeanQ.from_scales(0.05, -20, 0.04, -10)}), 0.04, -10)
    w = b.constant("fc", rng.integers(-127, 128, (10, 8), np.int8))
    acc = b.op(Op.LINEAR, [mean, w, b.constant("fc_b", rng.integers(-500, 500, 10).astype(np.int32))],
               {"q": ConvQ.from_zero_points(-10)})
    logits = m.value(b.op(Op.REQUANTIZE, [acc], {"q": RequantQ.per_tensor(0.04, 0.01, 0.125, 3)}), 0.125, 3)
    clamp = {"min": -4.0, "max": 4.0, "q": ClampQ.from_bounds(-4.0, 4.0, 0.125, 3)}
    clamped = m.value(b.op(Op.CLAMP, [logits], clamp), 0.125, 3)
    probabilities = m.value(b.op(Op.SOFTMAX, [logits], {"axis": 1, "q": SoftmaxQ.from_scale(0.125)}), *SOFTMAX_OUTPUT)
    gate = m.value(b.op(Op.SIGMOID, [clamped], {"q": LogisticQ.from_scale(0.125, 3)}), *SIGMOID_OUTPUT)
    tanh = m.value(b.op(Op.TANH, [logits], {"q": TanhQ.from_scale(0.125, 3)}), *TANH_OUTPUT)
    gated = m.value(b.op(Op.MUL, [gate, tanh], {"q": MulQ.from_scales(*SIGMOID_OUTPUT, *TANH_OUTPUT, 1 / 128, 0)}),
                    1 / 128, 0)
    rescaled = m.value(b.op(Op.REQUANTIZE, [gated], {"q": RequantQ.from_scales(1 / 128, 0, 1 / 64, 5)}), 1 / 64, 5)
    for out in (probabilities, rescaled):
        b.output(out)
    graph = fuse(b.build())
    return graph, [rng.integers(-128, 128, (1, 3, 8, 8)).astype(np.int8)]


def float_model() -> Graph:
    """The positive control: a float model whose kernels do use float arithmetic and libm."""
    b = GraphBuilder("float_control")
    x = b.input("x", TensorType((1, 2, 4, 4)))
    y = b.op(Op.CONV2D, [x, b.constant("w", np.full((2, 2, 3, 3), 0.5, np.float32))], {"padding": (1, 1, 1, 1)})
    b.output(b.op(Op.SIGMOID, [y]))
    return b.build()


def render(graph: Graph) -> tuple[dict[str, str], IOSpec]:
    schedule = schedule_graph(graph, C_PLAN)
    return render_c(schedule), IOSpec.from_graph(schedule.graph)


def test_the_model_holds_every_int8_kernel_and_no_int32_tensor():
    graph, _ = integer_model()
    ops = {n.op for n in graph.nodes}
    assert {Op.CONV2D, Op.LINEAR, Op.ADD, Op.MUL, Op.MAX_POOL2D, Op.AVG_POOL2D, Op.MEAN, Op.REQUANTIZE, Op.CLAMP,
            Op.HARDSWISH, Op.SIGMOID, Op.TANH, Op.SOFTMAX} <= ops
    assert all(t.dtype is DType.INT8 for name, t in graph.types.items() if name not in graph.constants)
    calls = set(re.findall(r"\b(el_\w+)\(", render(graph)[0]["model.c"]))
    assert {"el_conv2d_s8", "el_depthwise_conv2d_inplace_s8", "el_conv2d_1x1_s8", "el_linear_s8"} <= calls


# --- building for the Cortex-M0 -------------------------------------------------------------------------------------

def compile_objects(sources: list[Path], folder: Path, include: Path) -> list[Path]:
    def one(src: Path) -> Path:
        obj = folder / (src.stem + ".o")
        subprocess.run([CC, *CFLAGS, f"-I{INCLUDE_DIR}", f"-I{include}", "-c", str(src), "-o", str(obj)], check=True)
        return obj

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, sources))


ENTRY = """int {prefix}_invoke(void);
void el_entry(void);

/* The image's entry point: run the model once, then stop. */
void el_entry(void)
{{
    (void){prefix}_invoke();
    for (;;) {{
    }}
}}
"""


@pytest.fixture(scope="module")
def runtime_objects(tmp_path_factory) -> list[Path]:
    """Every runtime source, float kernels included, built for the Cortex-M0."""
    folder = tmp_path_factory.mktemp("runtime-m0")
    return compile_objects(sorted(SRC_DIR.glob("*.c")), folder, SRC_DIR)


def link_image(graph: Graph, folder: Path, runtime: list[Path]) -> Path:
    """The model, a bare entry point and the whole runtime, linked with --gc-sections and libm available."""
    files, spec = render(graph)
    write_files(folder, files)
    (folder / "entry.c").write_text(ENTRY.format(prefix=spec.prefix))
    objects = compile_objects([*sorted(folder.glob(f"{spec.prefix}*.[cS]")), folder / "entry.c"], folder, folder)
    elf = folder / "image.elf"
    subprocess.run([CC, *CFLAGS, "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections",
                    "-Wl,-e,el_entry", *map(str, objects), *map(str, runtime), "-lm", "-o", str(elf)], check=True)
    return elf


def test_int8_kernel_and_model_objects_reference_no_float(tmp_path):
    """Relocatable objects: the int8 kernel files (and movement.c, the dtype-generic data movement) and the
    generated model neither define nor call any software floating point or libm function."""
    graph, _ = integer_model()
    files, spec = render(graph)
    write_files(tmp_path, files)
    sources = [*sorted(SRC_DIR.glob("*_s8*.c")), SRC_DIR / "movement.c", tmp_path / f"{spec.prefix}.c"]
    objects = compile_objects(sources, tmp_path, tmp_path)
    for obj in objects:
        assert not float_symbols(symbols(obj)), obj.name
    undefined = set().union(*(symbols(obj, "-u") for obj in objects))
    assert "el_conv2d_s8" in undefined  # the model's calls are really there to be checked


@pytest.mark.skipif(not Path(subprocess.run([CC, "-print-file-name=libc_nano.a"], capture_output=True, text=True)
                             .stdout.strip()).is_absolute(), reason=f"needs newlib: apt-get install -y {DEBIAN}")
def test_linked_int8_image_holds_no_float_while_a_float_one_does(tmp_path, runtime_objects):
    integer_dir, float_dir = tmp_path / "int8", tmp_path / "float"
    integer_dir.mkdir()
    float_dir.mkdir()
    image = symbols(link_image(integer_model()[0], integer_dir, runtime_objects))
    assert {"model_invoke", "el_conv2d_s8", "el_depthwise_conv2d_inplace_s8", "el_softmax_s8", "el_sigmoid_s8",
            "el_tanh_s8", "el_hardswish_s8", "el_mean_s8"} <= image
    assert not float_symbols(image)
    assert not any(name.endswith("_f32") for name in image)  # no float kernel was linked
    control = symbols(link_image(float_model(), float_dir, runtime_objects))
    assert "el_sigmoid_f32" in control
    assert {n for n in float_symbols(control) if n.startswith("__aeabi_f")} and float_symbols(control) & LIBM


# --- on the core ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("core", ["cortex-m0", "cortex-m4"])
def test_int8_firmware_on_qemu_gives_the_interpreter_bytes(core, tmp_path, monkeypatch):
    """The project's own firmware build (runtime/cortex_m.py) runs the model on QEMU and gives run_graph's bytes: on
    the Cortex-M0 with the portable kernels, where its size image links no float either, and on the Cortex-M4 with
    the DSP fast paths (runtime/src/s8_dsp.h)."""
    from edgelower.runtime import cortex_m

    target = TARGETS[core]
    missing = cortex_m.missing_packages(target)
    if missing:
        pytest.skip(f"needs the Debian packages {' '.join(missing)}")
    monkeypatch.setenv("EDGELOWER_CACHE", str(tmp_path))
    graph, inputs = integer_model()
    files, spec = render(graph)
    firmware = cortex_m.build_firmware(files, spec, target)
    if "fpu" not in target.features:
        assert not float_symbols(symbols(firmware.size_elf))
    got = cortex_m.QemuModel(firmware, spec).run(inputs)
    for name, g, e in zip(graph.outputs, got, run_graph(graph, inputs)):
        assert (g.dtype, g.shape) == (e.dtype, e.shape) and np.array_equal(g, e), name
