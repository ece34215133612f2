"""Packed constants decode to exactly the arrays they were packed from, and the IR, the verifier and the
interpreter treat a packed constant as its dense value."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

from edgelower.interp import run_graph
from edgelower.ir.graph import DType, GraphBuilder, Op, TensorType
from edgelower.ir.ops import IRError
from edgelower.ir.packed import BitPacked, BlockSparse, SparseNM
from edgelower.ir.verifier import verify

shapes = hnp.array_shapes(min_dims=1, max_dims=4, max_side=7)


@given(bits=st.sampled_from(BitPacked.BITS), signed=st.booleans(), shape=shapes, data=st.data())
def test_bit_packing_round_trips(bits, signed, shape, data):
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    dtype = np.int8 if signed else np.uint8
    a = data.draw(hnp.arrays(dtype, shape, elements=st.integers(lo, hi)))
    packed = BitPacked.pack(a, bits)
    assert packed.nbytes == -(-a.size * bits // 8)
    np.testing.assert_array_equal(packed.decode(), a)
    assert packed.decode().dtype == a.dtype and packed.decode().shape == a.shape


def nm_sparse(draw, n: int, m: int, shape: tuple[int, ...], axis: int) -> np.ndarray:
    a = draw(hnp.arrays(np.int8, shape, elements=st.integers(-128, 127)))
    groups = np.moveaxis(a, axis, -1).reshape(-1, m).copy()
    for g in groups:  # zero all but (at most) n random positions per group
        keep = draw(st.lists(st.integers(0, m - 1), max_size=n, unique=True))
        g[[i for i in range(m) if i not in keep]] = 0
    return np.moveaxis(groups.reshape(np.moveaxis(a, axis, -1).shape), -1, axis)


@given(nm=st.sampled_from([(2, 4), (1, 4), (1, 8), (3, 4)]), rows=st.integers(1, 5), groups=st.integers(1, 3),
       tail=st.integers(1, 3), data=st.data())
def test_n_of_m_sparsity_round_trips(nm, rows, groups, tail, data):
    n, m = nm
    a = nm_sparse(data.draw, n, m, (rows, groups * m, tail), axis=1)
    packed = SparseNM.pack(a, n, m, axis=1)
    np.testing.assert_array_equal(packed.decode(), a)
    assert packed.values.shape == (rows, groups * n, tail)
    assert (np.diff(packed.indices.astype(int), axis=1)[:, [i for i in range(groups * n - 1) if (i + 1) % n]] > 0).all()


@given(data=st.data())
def test_sparse_values_may_themselves_be_bit_packed(data):
    a = nm_sparse(data.draw, 2, 4, (3, 8), axis=1)
    a = np.clip(a, -8, 7).astype(np.int8)
    sparse = SparseNM.pack(a, 2, 4, axis=1)
    nested = SparseNM(BitPacked.pack(sparse.values, 4), sparse.indices, 2, 4, 1, sparse.shape, sparse.dtype)
    np.testing.assert_array_equal(nested.decode(), a)
    assert nested.nbytes < a.nbytes


@given(block=st.sampled_from([(1, 4), (2, 2), (4, 1)]), brows=st.integers(1, 4), bcols=st.integers(1, 4),
       data=st.data())
def test_block_sparsity_round_trips(block, brows, bcols, data):
    bh, bw = block
    a = data.draw(hnp.arrays(np.int8, (brows * bh, bcols * bw), elements=st.integers(-3, 3)))
    mask = data.draw(hnp.arrays(np.bool_, (brows, bcols)))
    a = a * np.kron(mask, np.ones(block, np.int8)).astype(np.int8)
    packed = BlockSparse.pack(a, block)
    np.testing.assert_array_equal(packed.decode(), a)
    assert len(packed.coords) <= mask.sum()


def test_too_dense_a_group_is_refused():
    with pytest.raises(ValueError, match="more than 2 nonzeros"):
        SparseNM.pack(np.ones((2, 4), np.int8), 2, 4, axis=1)
    with pytest.raises(ValueError, match="do not fit 4 bits"):
        BitPacked.pack(np.array([9], np.int8), 4)


def test_interpreter_and_verifier_use_the_decoded_constant():
    w = np.array([[3, 0, 0, -2], [0, 0, 7, 1]], np.int8)
    for packed in (SparseNM.pack(w, 2, 4, axis=1), BitPacked.pack(w, 4), BlockSparse.pack(w, (1, 2))):
        b = GraphBuilder("g")
        x = b.input("x", TensorType((4, 2), DType.INT8))
        b.output(b.op(Op.MATMUL, [b.constant("w", packed), x]))
        graph = b.build()
        verify(graph)
        assert graph.constants["w"] is packed
        xs = np.arange(8, dtype=np.int8).reshape(4, 2)
        np.testing.assert_array_equal(run_graph(graph, [xs])[0], (w.astype(np.int64) @ xs).astype(np.int8))
        assert packed.format in str(graph)


def test_a_packed_constant_that_does_not_decode_to_its_type_is_invalid_ir():
    b = GraphBuilder("g")
    x = b.input("x", TensorType((4,), DType.INT8))
    c = b.constant("c", np.zeros(4, np.int8))
    b.output(b.op(Op.ADD, [x, c]))
    graph = b.build()
    bad = graph.replace(constants={"c": BitPacked.pack(np.zeros(3, np.int8), 4)})
    with pytest.raises(IRError, match="constant %c"):
        verify(bad)
