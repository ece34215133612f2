"""Packed constants: weights stored in fewer bytes than their dense form, and the decode that defines them.

A constant of a Graph is a read-only numpy array or a `Packed` value. A Packed value has the logical shape and
dtype of its dense form (what its TensorType says and what every op computes on) and stores fewer bytes:
- `BitPacked`: integers of `bits` < 8 bits each (int4, int2/ternary), two's complement, packed little-endian:
  value i of the row-major flattening sits in bits [(i mod k) * bits, +bits) of byte i // k, k = 8 // bits.
- `SparseNM`: N:M structured sparsity along `axis` (the input-channel axis of a weight): in every group of M
  consecutive elements along it at most N are nonzero; `values` holds N per group (the nonzeros in index order,
  then zeros) and `indices` their positions within the group (0..M-1, increasing).
- `BlockSparse`: the 2-D view [rows, cols] of the weight (rows: dim 0) cut into (bh, bw) blocks; only blocks with
  a nonzero are kept, with their (block row, block col) coordinates in increasing order.
`values` of the sparse forms may itself be Packed (int4 values of a 2:4 weight). `decode()` returns exactly the
dense array (the property tests in tests/test_packed.py check decode(pack(x)) == x); the interpreter runs on it,
so packing never changes a result. `nbytes` is the storage size, which the report counts as weight bytes.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass

import numpy as np


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


def dense(value) -> np.ndarray:
    """A constant's dense array: itself, or the decode of a Packed value."""
    return value.decode() if isinstance(value, Packed) else value


class Packed(abc.ABC):
    shape: tuple[int, ...]
    dtype: np.dtype

    @abc.abstractmethod
    def decode(self) -> np.ndarray:
        """The dense array, read-only, of `shape` and `dtype`."""

    @property
    @abc.abstractmethod
    def nbytes(self) -> int:
        """Bytes of storage."""

    @property
    def format(self) -> str:
        return type(self).__name__

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True, eq=False)
class BitPacked(Packed):
    data: np.ndarray        # uint8, ceil(size * bits / 8) bytes
    bits: int
    shape: tuple[int, ...]
    dtype: np.dtype = np.dtype(np.int8)

    BITS = (1, 2, 4)

    @classmethod
    def pack(cls, array: np.ndarray, bits: int) -> "BitPacked":
        a = np.asarray(array)
        if bits not in cls.BITS or a.dtype.kind not in "iu":
            raise ValueError(f"bit packing takes integers at {cls.BITS} bits, got {a.dtype} at {bits}")
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if a.dtype.kind == "i" else (0, (1 << bits) - 1)
        if a.size and (a.min() < lo or a.max() > hi):
            raise ValueError(f"values in [{a.min()}, {a.max()}] do not fit {bits} bits ([{lo}, {hi}])")
        per_byte = 8 // bits
        codes = (a.reshape(-1).astype(np.int64) & ((1 << bits) - 1)).astype(np.uint8)
        codes = np.concatenate([codes, np.zeros(-len(codes) % per_byte, np.uint8)]).reshape(-1, per_byte)
        shifts = (np.arange(per_byte) * bits).astype(np.uint8)
        data = np.bitwise_or.reduce(codes << shifts, axis=1).astype(np.uint8)
        return cls(_readonly(data), bits, tuple(a.shape), a.dtype)

    def decode(self) -> np.ndarray:
        per_byte = 8 // self.bits
        shifts = (np.arange(per_byte) * self.bits).astype(np.uint8)
        codes = ((self.data[:, None] >> shifts) & ((1 << self.bits) - 1)).reshape(-1)[:self.size].astype(np.int64)
        if np.dtype(self.dtype).kind == "i":
            codes = np.where(codes >= 1 << (self.bits - 1), codes - (1 << self.bits), codes)
        return _readonly(codes.astype(self.dtype).reshape(self.shape))

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)


@dataclass(frozen=True, eq=False)
class SparseNM(Packed):
    values: np.ndarray | Packed   # the dense shape with `axis` cut to n / m of its size
    indices: np.ndarray           # uint8, same shape as values: position of each value in its group of m
    n: int
    m: int
    axis: int
    shape: tuple[int, ...]
    dtype: np.dtype

    @classmethod
    def pack(cls, array: np.ndarray, n: int, m: int, axis: int = 1) -> "SparseNM":
        a = np.asarray(array)
        if not 0 < n < m or a.shape[axis] % m:
            raise ValueError(f"{n}:{m} sparsity along axis {axis} needs 0 < n < m and a multiple of {m} there, "
                             f"got shape {a.shape}")
        groups = np.moveaxis(a, axis, -1).reshape(-1, a.shape[axis] // m, m)
        nonzero = groups != 0
        if (nonzero.sum(axis=-1) > n).any():
            raise ValueError(f"a group of {m} along axis {axis} holds more than {n} nonzeros")
        # Per group: the nonzero positions first (in index order), then the lowest unused positions, keep n, sort.
        order = np.argsort(~nonzero, axis=-1, kind="stable")[..., :n]
        order = np.sort(order, axis=-1)
        kept = np.take_along_axis(groups, order, axis=-1)
        moved_shape = np.moveaxis(a, axis, -1).shape[:-1] + (a.shape[axis] * n // m,)
        values = np.moveaxis(kept.reshape(moved_shape), -1, axis)
        indices = np.moveaxis(order.astype(np.uint8).reshape(moved_shape), -1, axis)
        return cls(_readonly(values), _readonly(indices), n, m, axis, tuple(a.shape), a.dtype)

    def decode(self) -> np.ndarray:
        values = np.moveaxis(dense(self.values), self.axis, -1)
        indices = np.moveaxis(self.indices, self.axis, -1)
        groups = values.shape[-1] // self.n
        out = np.zeros(values.shape[:-1] + (groups, self.m), self.dtype)
        np.put_along_axis(out, indices.reshape(indices.shape[:-1] + (groups, self.n)).astype(np.int64),
                          values.reshape(values.shape[:-1] + (groups, self.n)), axis=-1)
        out = out.reshape(values.shape[:-1] + (groups * self.m,))
        return _readonly(np.moveaxis(out, -1, self.axis))

    @property
    def nbytes(self) -> int:
        """Values, plus the indices at ceil(log2 m) bits each as a kernel stores them."""
        index_bits = max(1, (self.m - 1).bit_length())
        return self.values.nbytes + -(-self.indices.size * index_bits // 8)


@dataclass(frozen=True, eq=False)
class BlockSparse(Packed):
    blocks: np.ndarray | Packed   # [kept, bh, bw]
    coords: np.ndarray            # int32 [kept, 2]: (block row, block col), increasing
    block: tuple[int, int]
    shape: tuple[int, ...]
    dtype: np.dtype

    @classmethod
    def pack(cls, array: np.ndarray, block: tuple[int, int]) -> "BlockSparse":
        a = np.asarray(array)
        rows, cols = a.shape[0], math.prod(a.shape[1:])
        bh, bw = block
        if rows % bh or cols % bw:
            raise ValueError(f"blocks {block} do not tile the {rows}x{cols} view of shape {a.shape}")
        tiles = a.reshape(rows // bh, bh, cols // bw, bw).transpose(0, 2, 1, 3)
        keep = np.argwhere(tiles.reshape(rows // bh, cols // bw, -1).any(axis=-1)).astype(np.int32)
        blocks = tiles[keep[:, 0], keep[:, 1]] if len(keep) else np.zeros((0, bh, bw), a.dtype)
        return cls(_readonly(blocks), _readonly(keep.reshape(-1, 2)), (bh, bw), tuple(a.shape), a.dtype)

    def decode(self) -> np.ndarray:
        rows, cols = self.shape[0], math.prod(self.shape[1:])
        bh, bw = self.block
        tiles = np.zeros((rows // bh, cols // bw, bh, bw), self.dtype)
        if len(self.coords):
            tiles[self.coords[:, 0], self.coords[:, 1]] = dense(self.blocks)
        return _readonly(tiles.transpose(0, 2, 1, 3).reshape(self.shape))

    @property
    def nbytes(self) -> int:
        return self.blocks.nbytes + int(self.coords.nbytes)
