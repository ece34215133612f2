"""The model's constants as one blob of bytes, linked without the C parser ever reading a weight.

`layout` gives every constant an aligned offset in one blob, `<prefix>_weights`; the generated C refers to a
constant only through its offset (a macro per constant, `k_<value>`, in `<prefix>.c`). The same bytes can be linked
two ways, chosen per target (`CSettings.weights`) or per compilation (`compile(..., weights="c")`):

- "incbin": `<prefix>_weights.bin` holds the bytes and `<prefix>_weights.S` pulls them in with the GNU assembler's
  `.incbin` (gcc, clang, arm-none-eabi-gcc): the assembler copies them, nothing parses them. The `.S` also names
  each constant with a local symbol of its exact size, so `nm -S`, a map file and a debugger still show
  `k_conv1_weight`.
- "c": `<prefix>_weights.c` spells the same bytes as hex string literals (`"\\x3f\\x80..."`), rows of `ROW` bytes,
  for any C99 compiler and IDE: each literal stays under the 4095 characters C99 promises, and a string is one
  token to the compiler, where a comma list would be one initializer per byte.

The blob is one object of the type `declare` writes (rows of ROW bytes and a tail, so the C form can initialize it
with short literals); kernels read it through `const T *` pointers at offsets aligned for T, in other translation
units. Offsets align every constant to max(its element size, 4): what gcc gives a separate `static const` array
on the Cortex-M targets at -O2, so the image keeps the sizes it had when every constant was its own array.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from edgelower.ir.graph import TensorType
from edgelower.backends.c.syntax import c_type
from edgelower.backends.writer import CodeWriter

FORMS = ("incbin", "c")
ROW = 256        # bytes per string literal in the C form
MIN_ALIGN = 4


@dataclass(frozen=True)
class Slot:
    value: str       # the graph constant
    symbol: str      # its C name (a macro in <prefix>.c, a local symbol in the .S)
    offset: int
    nbytes: int
    align: int


@dataclass(frozen=True)
class Blob:
    """Where every constant lives in `<symbol>`: `size` bytes, aligned to `align`."""

    symbol: str
    slots: tuple[Slot, ...]
    size: int
    align: int

    @property
    def bin_name(self) -> str:
        return f"{self.symbol}.bin"

    def files(self, form: str, data: bytes) -> dict[str, str | bytes]:
        """The weight files of `form`: {name: text or bytes}; none when the model has no constants."""
        if not self.slots:
            return {}
        if form == "incbin":
            return {self.bin_name: data, f"{self.symbol}.S": assembly(self)}
        if form == "c":
            return {f"{self.symbol}.c": c_source(self, data)}
        raise ValueError(f"weights={form!r}; valid: {', '.join(map(repr, FORMS))}")


def layout(symbol: str, values: Sequence[str], symbols: Mapping[str, str],
           types: Mapping[str, TensorType]) -> Blob:
    """Each of `values`, in order, at the next offset aligned for it."""
    slots, offset, blob_align = [], 0, MIN_ALIGN
    for value in values:
        t = types[value]
        align = max(t.dtype.itemsize, MIN_ALIGN)
        offset = -(-offset // align) * align
        slots.append(Slot(value, symbols[value], offset, t.nbytes, align))
        offset += t.nbytes
        blob_align = max(blob_align, align)
    # Constants that are all empty still make a blob of one byte: C has no empty struct or zero-length array.
    return Blob(symbol, tuple(slots), max(offset, 1) if slots else 0, blob_align)


def blob_bytes(blob: Blob, constants: Mapping[str, np.ndarray], types: Mapping[str, TensorType]) -> bytes:
    """The blob: each constant's little-endian bytes in C order at its offset, zeros between."""
    out = bytearray(blob.size)
    for slot in blob.slots:
        data = np.ascontiguousarray(constants[slot.value], dtype=types[slot.value].dtype.numpy.newbyteorder("<"))
        if data.size:  # an empty constant has no bytes (and memoryview cannot cast it)
            out[slot.offset:slot.offset + slot.nbytes] = memoryview(data).cast("B")
    return bytes(out)


def _struct_fields(size: int) -> list[str]:
    rows, tail = divmod(size, ROW)
    return ([f"uint8_t rows[{rows}][{ROW}]"] if rows else []) + ([f"uint8_t tail[{tail}]"] if tail else [])


def declare(w: CodeWriter, blob: Blob, macro: str, types: Mapping[str, TensorType],
            comments: Mapping[str, str]) -> None:
    """In <prefix>.c: the blob's type and extern declaration, and one pointer macro per constant."""
    w.comment(f"The constants, {blob.size:,} bytes in one blob: {blob.symbol}.S + {blob.bin_name} (or the same\n"
              f"bytes as C, {blob.symbol}.c). Each constant is a pointer at its offset, aligned for its element type.")
    with w.block(f"struct {blob.symbol}_bytes", "};"):
        for field in _struct_fields(blob.size):
            w.statement(field)
    w.statement(f"extern const struct {blob.symbol}_bytes {blob.symbol}")
    w.line(f"#define {macro}_WEIGHTS ((const uint8_t *)(const void *)&{blob.symbol})")
    for slot in blob.slots:
        ctype = c_type(types[slot.value].dtype)
        w.comment(comments[slot.value])
        w.line(f"#define {slot.symbol} ((const {ctype} *)(const void *)({macro}_WEIGHTS + {slot.offset}))")


def assembly(blob: Blob) -> str:
    """The .S that links `<symbol>.bin` as it is (GNU as syntax, ELF objects)."""
    w = CodeWriter()
    w.comment(f"Generated by edgelower: {blob.bin_name}, {blob.size:,} bytes, linked as it is (GNU as .incbin).\n"
              "The assembler looks for it in its working directory and the -I directories. Do not edit.")
    # %-forms: `@` starts a comment on ARM, and both assemblers take `%`.
    w.line(f'.section .rodata.{blob.symbol},"a",%progbits')
    w.line(f".balign {blob.align}")
    w.line(f".global {blob.symbol}")
    w.line(f".type {blob.symbol}, %object")
    w.line(f"{blob.symbol}:")
    w.line(f'.incbin "{blob.bin_name}"')
    w.line(f".size {blob.symbol}, {blob.size}")
    w.comment("One local symbol per constant, with its size: for nm -S, map files and debuggers.")
    for slot in blob.slots:
        w.line(f".type {slot.symbol}, %object")
        w.line(f".set {slot.symbol}, {blob.symbol} + {slot.offset}")
        w.line(f".size {slot.symbol}, {slot.nbytes}")
    w.comment("No executable stack: without this note, GNU ld marks the whole library as needing one.")
    w.line('.section .note.GNU-stack,"",%progbits')
    return w.text()


def c_source(blob: Blob, data: bytes) -> str:
    """The portable C form of the same bytes: one definition of the blob's type, initialized by hex strings."""
    w = CodeWriter()
    w.comment(f"Generated by edgelower: the {blob.size:,} bytes of {blob.symbol} as C99, for toolchains without\n"
              f"GNU as (.incbin); {blob.symbol}.S and {blob.bin_name} are the same bytes. Do not edit.")
    w.line("#include <stdint.h>")
    w.blank()
    w.line('#include "edgelower.h"')
    w.blank()
    w.comment("Each row literal fills its row exactly (no terminating NUL): C99 allows it; GCC 15's\n"
              "-Wunterminated-string-initialization (in -Wextra) is told so by `nonstring`.")
    w.line("#if defined(__GNUC__) && __GNUC__ >= 15")
    w.line("#define EL_BYTES __attribute__((nonstring))")
    w.line("#else")
    w.line("#define EL_BYTES")
    w.line("#endif")
    w.blank()
    with w.block(f"struct {blob.symbol}_bytes", "};"):
        for field in _struct_fields(blob.size):
            name, _, dims = field.partition(" ")
            w.statement(f"{name} EL_BYTES {dims}")
    w.blank()
    rows, tail = divmod(blob.size, ROW)
    with w.block(f"const struct {blob.symbol}_bytes {blob.symbol} EL_ALIGNED({blob.align}) =", "};"):
        if rows:
            with w.block("", "},"):
                w.byte_rows(data[:rows * ROW], ROW)
        if tail:
            w.byte_rows(data[rows * ROW:], tail)
    return w.text()
