"""The C backend: a planned Schedule rendered as C99 over the edgelower runtime (`runtime/include/edgelower.h`).

`render_c(schedule, prefix)` returns three files:
- `<prefix>.h`: the public API. `int <prefix>_invoke(void)`, `void *<prefix>_input(int i)`,
  `void *<prefix>_output(int i)`, and macros: `<PREFIX>_ARENA_BYTES`, `<PREFIX>_NUM_INPUTS`,
  `<PREFIX>_NUM_OUTPUTS`, `<PREFIX>_INPUT_<i>_BYTES`, `<PREFIX>_OUTPUT_<i>_BYTES`, and for quantized tensors
  `..._SCALE` / `..._ZERO_POINT` (real = (q - zero_point) * scale).
- `<prefix>.c`: each weight a pointer into one blob of constants (flash; `weights.py` lays it out and writes
  `<prefix>_weights.S` + `<prefix>_weights.bin`, or `<prefix>_weights.c`), one 16-byte-aligned `static uint8_t
  <prefix>_arena[arena_bytes]` (SRAM) in which every buffer is a pointer at its planned offset, kernel params as
  `static const` initializers, and `<prefix>_invoke()`: the runtime calls, each under a comment naming its node.
  Aliases need nothing more: a view's pointer is its input's bytes (its kernel emits only a comment), and an
  in-place kernel gets the same pointer for its output as for the input it overwrites. Both are checked here.
- `main.c`: a host-only harness, kept apart from the model: it reads each input from a raw binary file named on
  the command line, invokes, and writes each output to the next file names.

Output is a pure function of the schedule: values are visited in kernel order, never in dict or id() order. No
weight is formatted in Python: the blob is the constants' bytes, so rendering is linear in the model's size.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgelower.errors import BuildError
from edgelower.ir.names import sanitize
from edgelower.ir.schedule import Buffer, Kernel, Schedule
from edgelower.ir.views import view_offset

from edgelower.backends.c.weights import FORMS, Blob, blob_bytes, declare, layout
from edgelower.backends.c.memory import C_MEMORY
from edgelower.backends.c.context import Array, Call, KernelContext, Params, Scalar
from edgelower.backends.c.dispatch import emit_kernel
from edgelower.backends.c.syntax import Identifiers, c_type, float_literal, initializer
from edgelower.backends.writer import CodeWriter

HARNESS = "main.c"
STEPS_PER_FUNCTION = 256  # kernels per C function of invoke (see _invoke)


@dataclass(frozen=True)
class _Step:
    comment: str
    calls: tuple[Call, ...]


@dataclass
class _Program:
    """Everything the three files are written from, with names already chosen."""

    schedule: Schedule
    prefix: str
    pointers: dict[str, str]        # value -> C expression of its data (local pointer or constant array)
    constants: list[str]            # values emitted as static const arrays, in first-use order
    locals: list[str]               # arena buffers the kernels touch, in first-use order
    defs: list[Params | Scalar | Array]
    steps: list[_Step]
    blob: Blob

    @property
    def macro(self) -> str:
        return self.prefix.upper()

    def where(self, value: str) -> str:
        """The address of a graph input or output, for <prefix>_input / <prefix>_output."""
        if value in self.schedule.graph.constants:
            return f"(void *){self.pointers[value]}"
        return f"{self.prefix}_arena + {self.schedule.buffers[value].offset}"


def render_c(schedule: Schedule, prefix: str = "model", weights_form: str = "incbin") -> dict[str, str | bytes]:
    """{file name: text, or bytes for the weights' .bin}; `weights_form` is how the blob is linked (FORMS)."""
    if weights_form not in FORMS:
        raise ValueError(f"weights={weights_form!r}; valid: {', '.join(map(repr, FORMS))}")
    program = _plan(schedule, sanitize(prefix))
    graph = schedule.graph
    data = blob_bytes(program.blob, {v: graph.constant(v) for v in program.constants}, graph.types)
    return {f"{program.prefix}.h": _header(program), f"{program.prefix}.c": _source(program),
            HARNESS: _harness(program), **program.blob.files(weights_form, data)}


def _check_buffer(schedule: Schedule, buf: Buffer | None, value: str) -> None:
    if buf is None:
        raise BuildError(f"C backend: value %{value} has no buffer in the schedule")
    if not buf.in_arena:
        return
    if buf.offset is None:
        raise BuildError(f"C backend: buffer %{value} has no arena offset; run plan_memory first")
    if buf.offset % buf.type.dtype.itemsize or buf.offset < 0 or buf.offset + buf.nbytes > schedule.arena_bytes:
        raise BuildError(f"C backend: buffer %{value} at [{buf.offset}, {buf.offset + buf.nbytes}) is misaligned "
                         f"or outside the {schedule.arena_bytes}-byte arena")


def _plan(schedule: Schedule, prefix: str) -> _Program:
    graph = schedule.graph
    parts = tuple(f"part_{i}" for i in range(-(-len(schedule.kernels) // STEPS_PER_FUNCTION)))
    idents = Identifiers(tuple(f"{prefix}_{s}" for s in ("arena", "invoke", "input", "output", "weights", *parts)))
    pointers: dict[str, str] = {}
    constants: list[str] = []
    local: dict[str, None] = {}   # an ordered set: first-use order, O(1) membership

    def bind(value: str, used_by_kernel: bool) -> None:
        buf = schedule.buffers.get(value)
        _check_buffer(schedule, buf, value)
        if value in graph.constants:
            if value not in pointers:
                pointers[value] = idents.unique(f"k_{value}")
                constants.append(value)
        elif used_by_kernel and value not in local:
            pointers[value] = idents.unique(f"t_{value}")
            local[value] = None

    for kernel in schedule.kernels:
        for value in kernel.node.inputs + kernel.node.outputs + kernel.scratch:
            bind(value, True)
    for value in graph.inputs + graph.outputs:
        bind(value, False)

    defs: list[Params | Scalar | Array] = []
    steps: list[_Step] = []
    for kernel in schedule.kernels:
        node = kernel.node
        where = f" at {node.source}" if node.source else ""
        comment = f"{node.op.name.lower()}: %{node.name} ({node.op.name}){where}"
        if kernel.view:
            offset = _check_view(schedule, kernel)
            steps.append(_Step(f"{comment}: a view of %{node.inputs[0]} + {offset} bytes, no code", ()))
            continue
        _check_overlap(schedule, kernel)
        ctx = KernelContext(node, graph.types, pointers, idents, tuple(pointers[s] for s in kernel.scratch))
        emit_kernel(ctx)
        steps.append(_Step(comment, tuple(ctx.calls)))
        defs.extend(ctx.defs)
    # Only pointers some call passes: a view runs no code, an in-place kernel passes one pointer for two buffers.
    used = {arg for step in steps for call in step.calls for arg in call.args}
    kept = [value for value in local if pointers[value] in used]
    blob = layout(f"{prefix}_weights", constants, pointers, graph.types)
    return _Program(schedule, prefix, pointers, constants, kept, defs, steps, blob)


def _check_view(schedule: Schedule, kernel: Kernel) -> int:
    """A view kernel runs no code, so its output must already be its input's bytes at the view's offset."""
    node, buffers = kernel.node, schedule.buffers
    offset = view_offset(node, {n: b.type for n, b in buffers.items()})
    x, y = buffers[node.inputs[0]], buffers[node.output]
    if offset is None or not x.in_arena or y.offset != x.offset + offset:
        raise BuildError(f"C backend: node {node.name} ({node.op.name}) is marked a view, but %{y.name} is not "
                         f"%{x.name}'s bytes at the view's offset")
    return offset


def _check_overlap(schedule: Schedule, kernel: Kernel) -> None:
    """An output may share bytes with an input only when the kernel runs in place and the two are the same
    elements: any other overlap would break the kernel's `restrict` contract or read overwritten values."""
    node, buffers = kernel.node, schedule.buffers
    for out in node.outputs:
        y = buffers[out]
        for name in node.inputs:
            x = buffers[name]
            if not x.in_arena or x.offset + x.nbytes <= y.offset or y.offset + y.nbytes <= x.offset:
                continue
            rule = C_MEMORY.in_place.get(node.op)
            in_place = rule is not None and (rule.scratch(node, schedule.graph.types) is None or bool(kernel.scratch))
            if not in_place or (x.offset, x.type.shape, x.type.dtype) != (y.offset, y.type.shape, y.type.dtype):
                raise BuildError(f"C backend: node {node.name} ({node.op.name}) would write %{out} over %{name}, "
                                 "which its kernel cannot do in place")
    for name in kernel.scratch:
        z = buffers[name]
        for other in node.inputs + node.outputs:
            x = buffers[other]
            if x.in_arena and x.offset < z.offset + z.nbytes and z.offset < x.offset + x.nbytes:
                raise BuildError(f"C backend: node {node.name} ({node.op.name}): scratch %{name} overlaps %{other}")


def _type_text(schedule: Schedule, value: str) -> str:
    return f"%{value}: {schedule.graph.types[value]}"


# --- <prefix>.h ------------------------------------------------------------------------------------------------

def _io_macros(w: CodeWriter, program: _Program, kind: str, values: tuple[str, ...]) -> None:
    for i, value in enumerate(values):
        t = program.schedule.graph.types[value]
        stem = f"{program.macro}_{kind.upper()}_{i}"
        w.comment(f"{kind} {i}: {_type_text(program.schedule, value)}")
        w.line(f"#define {stem}_BYTES {t.nbytes}")
        if t.qparams is not None:
            if len(t.qparams.scale) != 1:
                raise BuildError(f"C backend: {kind} %{value} is quantized per axis; the API publishes one scale")
            w.line(f"#define {stem}_SCALE {float_literal(t.qparams.scale[0])}")
            w.line(f"#define {stem}_ZERO_POINT {int(t.qparams.zero_point[0])}")


def _header(program: _Program) -> str:
    p, m, graph = program.prefix, program.macro, program.schedule.graph
    guard = f"EDGELOWER_{m}_H"
    w = CodeWriter()
    w.comment(f"Generated by edgelower from graph {sanitize(graph.name)}. Do not edit.")
    w.line(f"#ifndef {guard}")
    w.line(f"#define {guard}")
    w.blank()
    w.line("#ifdef __cplusplus")
    w.line('extern "C" {')
    w.line("#endif")
    w.blank()
    w.comment(f"Static RAM the model uses: one arena ({p}_arena) holding every input, output and activation.")
    w.line(f"#define {m}_ARENA_BYTES {program.schedule.arena_bytes}")
    w.line(f"#define {m}_NUM_INPUTS {len(graph.inputs)}")
    w.line(f"#define {m}_NUM_OUTPUTS {len(graph.outputs)}")
    w.blank()
    _io_macros(w, program, "input", graph.inputs)
    _io_macros(w, program, "output", graph.outputs)
    w.blank()
    w.comment(f"Runs the model on the bytes at {p}_input(i), leaving the results at {p}_output(i).\n"
              "Returns 0, or 1 when a gather index was out of range. Not reentrant: the arena is static.")
    w.statement(f"int {p}_invoke(void)")
    w.comment(f"Where input i goes before each {p}_invoke() ({m}_INPUT_<i>_BYTES bytes, C order); the run may\n"
              "overwrite it, as the arena reuses its bytes. NULL if no such input.")
    w.statement(f"void *{p}_input(int i)")
    w.comment(f"Where output i is after {p}_invoke(); valid until the next call. NULL if no such output.")
    w.statement(f"void *{p}_output(int i)")
    w.blank()
    w.line("#ifdef __cplusplus")
    w.line("}")
    w.line("#endif")
    w.blank()
    w.line(f"#endif /* {guard} */")
    return w.text()


# --- <prefix>.c ------------------------------------------------------------------------------------------------

def _definition(w: CodeWriter, d: Params | Scalar | Array) -> None:
    if isinstance(d, Params):
        w.wrapped(f"static const {d.ctype} {d.name} = {{", initializer(d.fields), "};")
    elif isinstance(d, Array):
        w.wrapped(f"static const {d.ctype} {d.name}[{len(d.literals)}] = {{", d.literals, "};")
    else:
        w.statement(f"static const {d.ctype} {d.name} = {d.literal}")


def _address_fn(w: CodeWriter, program: _Program, kind: str, values: tuple[str, ...]) -> None:
    with w.function(f"void *{program.prefix}_{kind}(int i)"):
        with w.block("switch (i)"):
            for i, value in enumerate(values):
                w.line(f"case {i}:")
                with w.indented():
                    w.statement(f"return {program.where(value)}")
            w.line("default:")
            with w.indented():
                w.statement("return NULL")


def _parts(program: _Program) -> list[list[_Step]]:
    """The steps in runs of at most STEPS_PER_FUNCTION: one run (invoke itself) for every model of the zoo."""
    steps = program.steps
    return [steps[i:i + STEPS_PER_FUNCTION] for i in range(0, len(steps), STEPS_PER_FUNCTION)] or [[]]


def _steps(w: CodeWriter, program: _Program, steps: list[_Step]) -> None:
    """The arena pointers these steps pass, then their calls; returns EL_OK, or EL_ERROR_INDEX from a checked call."""
    buffers = program.schedule.buffers
    used = {arg for step in steps for call in step.calls for arg in call.args}
    for value in program.locals:
        if program.pointers[value] not in used:
            continue
        ctype = c_type(buffers[value].type.dtype)
        # Through void *: the plan aligns every offset for its dtype, which -Wcast-align cannot know.
        w.statement(f"{ctype} *const {program.pointers[value]} = "
                    f"({ctype} *)(void *)({program.prefix}_arena + {buffers[value].offset})")
    for step in steps:
        w.blank()
        w.comment(step.comment)
        for call in step.calls:
            if call.checked:
                w.wrapped(f"if ({call.fn}(", call.args, ") != EL_OK) {")
                with w.indented():
                    w.statement("return EL_ERROR_INDEX")
                w.line("}")
            else:
                w.call(call.fn, call.args)
    w.blank()
    w.statement("return EL_OK")


def _invoke(w: CodeWriter, program: _Program) -> None:
    parts = _parts(program)
    if len(parts) == 1:
        with w.function(f"int {program.prefix}_invoke(void)"):
            _steps(w, program, parts[0])
        return
    # gcc's optimizer is superlinear in one function's size: a model of thousands of kernels would take minutes to
    # build as one invoke(). In parts of STEPS_PER_FUNCTION, the build grows linearly.
    for i, part in enumerate(parts):
        with w.function(f"static int {program.prefix}_part_{i}(void)"):
            _steps(w, program, part)
        w.blank()
    with w.function(f"int {program.prefix}_invoke(void)"):
        for i in range(len(parts)):
            with w.block(f"if ({program.prefix}_part_{i}() != EL_OK)"):
                w.statement("return EL_ERROR_INDEX")
        w.statement("return EL_OK")


def _source(program: _Program) -> str:
    s = program.schedule
    weight_bytes = sum(s.graph.types[v].nbytes for v in program.constants)
    w = CodeWriter()
    w.comment(f"Generated by edgelower from graph {sanitize(s.graph.name)}: {len(s.kernels)} kernels, "
              f"{s.arena_bytes} arena bytes, {weight_bytes} weight bytes. Do not edit.")
    for header in ("<math.h>", "<stddef.h>", "<stdint.h>", None, '"edgelower.h"', f'"{program.prefix}.h"'):
        w.line(f"#include {header}" if header else "")
    w.blank()
    in_arena = [v for v in s.graph.inputs + s.graph.outputs if v not in s.graph.constants] + program.locals
    if in_arena:
        # An arena of no bytes (every input and output empty) still has an address; C has no zero-length arrays.
        size = f"{program.macro}_ARENA_BYTES" if s.arena_bytes else "1"
        w.statement(f"static uint8_t {program.prefix}_arena[{size}] EL_ALIGNED({C_MEMORY.alignment})")
    if program.constants:
        w.blank()
        declare(w, program.blob, program.macro, s.graph.types, {v: _type_text(s, v) for v in program.constants})
    w.blank()
    for d in program.defs:
        _definition(w, d)
    for kind, values in (("input", s.graph.inputs), ("output", s.graph.outputs)):
        w.blank()
        _address_fn(w, program, kind, values)
    w.blank()
    _invoke(w, program)
    return w.text()


# --- main.c ----------------------------------------------------------------------------------------------------

def _harness(program: _Program) -> str:
    p, m, graph = program.prefix, program.macro, program.schedule.graph
    n_in, n_out = len(graph.inputs), len(graph.outputs)
    usage = " ".join([f"IN_{i}" for i in range(n_in)] + [f"OUT_{i}" for i in range(n_out)])
    w = CodeWriter()
    w.comment(f"Host harness for {p}, not for the device: {p} {usage}\n"
              f"Each file holds one tensor's raw bytes in C order, exactly {m}_INPUT_<i>_BYTES / _OUTPUT_<i>_BYTES.")
    w.line("#include <stdio.h>")
    w.blank()
    w.line(f'#include "{p}.h"')
    w.blank()
    files = (("read", "void *", "fread(data, 1, n, f) == n && fgetc(f) == EOF", "rb"),
             ("write", "const void *", "fwrite(data, 1, n, f) == n", "wb"))
    for verb, ptr, io, check in files[0 if n_in else 1:]:  # a model without inputs reads no file
        with w.function(f"static int {verb}_file(const char *path, {ptr}data, size_t n)"):
            w.statement(f'FILE *f = fopen(path, "{check}")')
            w.statement("int ok")
            with w.block("if (!f)"):
                w.statement("perror(path)")
                w.statement("return 1")
            w.statement(f"ok = {io}")
            w.statement("ok = (fclose(f) == 0) && ok")
            with w.block("if (!ok)"):
                w.statement(f'fprintf(stderr, "%s: could not {verb} exactly %lu bytes\\n", path, (unsigned long)n)')
            w.statement("return !ok")
        w.blank()
    with w.function("int main(int argc, char **argv)"):
        w.statement("int status")
        with w.block(f"if (argc != {1 + n_in + n_out})"):
            w.statement(f'fprintf(stderr, "usage: %s {usage}\\n", argv[0])')
            w.statement("return 2")
        for i in range(n_in):
            with w.block(f"if (read_file(argv[{1 + i}], {p}_input({i}), {m}_INPUT_{i}_BYTES))"):
                w.statement("return 1")
        w.statement(f"status = {p}_invoke()")
        with w.block("if (status != 0)"):
            w.statement(f'fprintf(stderr, "{p}_invoke failed with status %d\\n", status)')
            w.statement("return 3")
        for i in range(n_out):
            with w.block(f"if (write_file(argv[{1 + n_in + i}], {p}_output({i}), {m}_OUTPUT_{i}_BYTES))"):
                w.statement("return 1")
        w.statement("return 0")
    return w.text()

