"""Run a .tflite flatbuffer in the real TensorFlow Lite Micro interpreter (pip `tflite-micro`), for tests and
benchmarks: the bit-exact oracle of the integer interpreter, and TFLM's own arena figure.

tflite-micro is an optional dependency (extra `tflite`), imported only when a function here runs.
"""

from __future__ import annotations

import os
import re
import tempfile
from contextlib import contextmanager
from typing import Iterator, Sequence

import numpy as np

from edgelower.errors import EdgelowerError

_ARENA_LINE = re.compile(rb"Arena allocation total (\d+) bytes")


class TFLMError(EdgelowerError):
    """TFLite Micro rejected or failed to run a model; the message carries its log."""


def _runtime():
    try:
        from tflite_micro import runtime
    except ImportError as e:
        raise ImportError("running TFLite Micro needs the `tflite-micro` package: "
                          "pip install 'edgelower[tflite]'") from e
    return runtime


@contextmanager
def _captured_stderr() -> Iterator[list[bytes]]:
    """Collect what C++ code writes to file descriptor 2 (TFLM logs there, not to Python's sys.stderr)."""
    captured: list[bytes] = []
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read())


def _output_count(tflite_bytes: bytes) -> int:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    return schema.Model.GetRootAsModel(bytes(tflite_bytes), 0).Subgraphs(0).OutputsLength()


def run_tflm(tflite_bytes: bytes, inputs: Sequence[np.ndarray],
             arena_size: int | None = None) -> tuple[list[np.ndarray], int]:
    """Run one inference; return (outputs, arena bytes TFLM's RecordingMicroAllocator reports as used).

    `inputs` must already have the model's input dtypes and shapes (int8 for an integer model)."""
    runtime = _runtime()
    arena_size = arena_size or max(16 * len(tflite_bytes), 1 << 20)
    log: list[bytes] = []
    try:
        with _captured_stderr() as log:
            interpreter = runtime.Interpreter.from_bytes(bytes(tflite_bytes), arena_size=arena_size)
            for i, x in enumerate(inputs):
                interpreter.set_input(np.ascontiguousarray(x), i)
            interpreter.invoke()
            outputs = [np.array(interpreter.get_output(i)) for i in range(_output_count(tflite_bytes))]
            interpreter.print_allocations()
    except RuntimeError as e:
        raise TFLMError(f"TFLite Micro failed: {e}\n{b''.join(log).decode(errors='replace')}") from e
    report = b"".join(log)
    match = _ARENA_LINE.search(report)
    if match is None:
        raise TFLMError(f"TFLite Micro printed no arena figure:\n{report.decode(errors='replace')}")
    return outputs, int(match.group(1))
