"""C spellings of values: element types, exact literals, designated initializers, unique identifiers.

Float32 literals are the shortest decimal that rounds back to the same float32 (numpy's Dragon4 `unique` mode),
with an `f` suffix so the C compiler rounds the decimal straight to float: the bytes in flash equal the
constant's bytes. Non-finite values use <math.h>'s INFINITY and NAN (a NaN's payload bits are not kept).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from edgelower.errors import BuildError
from edgelower.ir.graph import DType
from edgelower.ir.names import sanitize

C_TYPES = {
    DType.FLOAT32: "float",
    DType.INT8: "int8_t",
    DType.INT16: "int16_t",
    DType.INT32: "int32_t",
    DType.INT64: "int64_t",
    DType.BOOL: "uint8_t",
}


def c_type(dtype: DType) -> str:
    try:
        return C_TYPES[dtype]
    except KeyError:
        raise BuildError(f"the C backend has no element type for {dtype.value}") from None


def float_literal(value: Any) -> str:
    f = np.float32(value)
    if np.isnan(f):
        return "NAN"
    if np.isinf(f):
        return "INFINITY" if f > 0 else "-INFINITY"
    text = np.format_float_scientific(f, unique=True, trim="0") if abs(f) >= 1e16 or 0 < abs(f) < 1e-4 \
        else np.format_float_positional(f, unique=True, trim="0")
    return text + "f"


def int_literal(value: Any, dtype: DType) -> str:
    """A literal of the element type; the two most negative values C cannot spell directly use <stdint.h>."""
    v = int(value)
    if dtype is DType.INT64 and v == -2**63:
        return "INT64_MIN"
    if v == -2**31:
        return "INT32_MIN"
    if dtype is DType.INT64 and not -2**31 < v < 2**31:
        return f"INT64_C({v})"
    return str(v)


def literals(data: np.ndarray, dtype: DType) -> list[str]:
    """Every element of `data` (row-major) as an exact literal of `dtype`."""
    flat = np.asarray(data).reshape(-1)
    if dtype is DType.FLOAT32:
        return [float_literal(v) for v in flat.astype(np.float32)]
    if dtype is DType.BOOL:
        return ["1" if v else "0" for v in flat]
    return [int_literal(v, dtype) for v in flat.astype(dtype.numpy)]


def scalar_literal(value: Any, dtype: DType) -> str:
    """A Python scalar cast to the element type, as torch casts a scalar to a tensor's dtype."""
    return literals(np.asarray(value).astype(dtype.numpy), dtype)[0]


def initializer(fields: Mapping[str, Any]) -> list[str]:
    """Designated-initializer items `.name = value`; nested mappings are structs, sequences are arrays."""
    return [f".{name} = {_value(value)}" for name, value in fields.items()]


def _value(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(initializer(value)) + "}"
    if isinstance(value, (list, tuple)):
        return "{" + ", ".join(_value(v) for v in value) + "}"
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, str):
        return value
    raise TypeError(f"no C initializer for {value!r}")


class Identifiers:
    """Hands out sanitized C identifiers, unique within one generated file, in the order they are asked for."""

    def __init__(self, reserved: tuple[str, ...] = ()):
        self._taken: set[str] = set(reserved)

    def unique(self, hint: str) -> str:
        base = sanitize(hint)
        name, n = base, 0
        while name in self._taken:
            n += 1
            name = f"{base}_{n}"
        self._taken.add(name)
        return name
