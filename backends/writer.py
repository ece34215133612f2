"""A small structured writer for C-like source (C, HLS C++): lines, indented blocks, comments, wrapped lists.

Backends describe structure (a block, a comment, a call) and the writer owns the layout, so no backend glues C
together with string concatenation, and the output is a pure function of the calls made: same calls, same bytes.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator, Sequence

import numpy as np

# Inside /* */ a "*/" would end the comment, "/*" trips -Wcomment, and "??" could start a C99 trigraph.
_COMMENT_ESCAPES = (("*/", "* /"), ("/*", "/ *"), ("??", "? ?"))
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def comment_safe(text: str) -> str:
    """`text` made safe to sit inside a /* */ comment, whatever model source line it came from."""
    text = _CONTROL.sub(" ", text)
    for bad, good in _COMMENT_ESCAPES:
        while bad in text:
            text = text.replace(bad, good)
    return text


class CodeWriter:
    """Accumulates lines at the current indentation; `text()` joins them with a final newline."""

    def __init__(self, indent: str = "    ", width: int = 118):
        self._lines: list[str] = []
        self._depth = 0
        self._indent = indent
        self.width = width

    @property
    def _prefix(self) -> str:
        return self._indent * self._depth

    def line(self, text: str = "") -> None:
        self._lines.append((self._prefix + text).rstrip())

    def blank(self) -> None:
        """One empty line; never two in a row, never at the top of the file or of a block."""
        if self._lines and self._lines[-1] and not self._lines[-1].endswith("{"):
            self._lines.append("")

    def comment(self, text: str) -> None:
        """A /* */ comment: one line for one line of text, else a block with one ` * ` line per line."""
        lines = [comment_safe(t).rstrip() for t in text.splitlines()] or [""]
        if len(lines) == 1:
            self.line(f"/* {lines[0]} */")
            return
        self.line("/*")
        for t in lines:
            self.line(f" * {t}" if t else " *")
        self.line(" */")

    def statement(self, text: str) -> None:
        self.line(text + ";")

    def call(self, fn: str, args: Sequence[str]) -> None:
        self.wrapped(f"{fn}(", args, ");")

    @contextmanager
    def block(self, head: str, close: str = "}") -> Iterator[None]:
        """`head {`, the indented body written inside the `with`, then `close` (`};` for initializers)."""
        self.line(f"{head} {{" if head else "{")
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        self.line(close)

    @contextmanager
    def function(self, signature: str) -> Iterator[None]:
        """A function definition: the signature, then the body between braces on lines of their own."""
        self.line(signature)
        self.line("{")
        with self.indented():
            yield
        self.line("}")

    @contextmanager
    def indented(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1

    def wrapped(self, head: str, items: Sequence[str], tail: str, sep: str = ", ") -> None:
        """`head` + items joined by `sep` + `tail` on one line if it fits, else items packed onto indented lines."""
        one = head + sep.join(items) + tail
        if len(self._prefix) + len(one) <= self.width or not items:
            self.line(one)
            return
        self.line(head)
        limit = self.width - len(self._prefix) - len(self._indent)
        current = ""
        for i, item in enumerate(items):
            piece = item + (sep.rstrip() if i < len(items) - 1 else "")
            if current and len(current) + 1 + len(piece) > limit:
                self.line(self._indent + current)
                current = piece
            else:
                current = f"{current} {piece}" if current else piece
        self.line(self._indent + current)
        self.line(tail)

    def byte_rows(self, data: bytes, row: int) -> None:
        """`data` as C string literals of `row` bytes, one per line, each byte a `\\xHH` escape, each line ending in
        a comma (the rows of an array initializer). Built as one block with numpy, never byte by byte: linear in
        `data`, and megabytes take a fraction of a second."""
        if not data:
            return
        if len(data) % row:
            raise ValueError(f"byte_rows: {len(data)} bytes are not whole rows of {row}")
        digits = np.frombuffer(data.hex().encode("ascii"), np.uint8).reshape(len(data) // row, row, 2)
        escapes = np.empty(digits.shape[:2] + (4,), np.uint8)
        escapes[..., 0], escapes[..., 1], escapes[..., 2:] = ord("\\"), ord("x"), digits
        head = np.frombuffer((self._prefix + '"').encode("ascii"), np.uint8)
        tail = np.frombuffer(b'",\n', np.uint8)
        n = escapes.shape[0]
        lines = np.concatenate([np.broadcast_to(head, (n, head.size)), escapes.reshape(n, -1),
                                np.broadcast_to(tail, (n, tail.size))], axis=1)
        self._lines.append(lines.tobytes().decode("ascii")[:-1])

    def text(self) -> str:
        lines = list(self._lines)
        while lines and not lines[-1]:
            lines.pop()
        return "\n".join(lines) + "\n"
