"""Data movement: views as `tensor` ops (collapse/expand_shape, extract_slice, insert_slice, pad), copies as
`linalg.transpose` or a broadcasting `linalg.generic`, and gathers as a generic that reads its table with
`tensor.extract` at indices it computes (UPSAMPLE_NEAREST's floor(i * in / out), GATHER's index operand).

Every rule works on any element type: the same bytes move for float32, int8 and the wider integers.
"""

from __future__ import annotations

from edgelower.ir.graph import Node, Op


def reshape(E, node: Node):
    return E.reshape(E.value(node.inputs[0]), node.attrs["shape"])


def permute(E, node: Node):
    out = E.types[node.output]
    return E.linalg.transpose(E.value(node.inputs[0]), outs=[E.empty(out.shape, out.dtype)],
                              permutation=list(node.attrs["perm"])).results[0]


def slice_(E, node: Node):
    x, out = node.inputs[0], E.types[node.output]
    rank, axis = len(out.shape), node.attrs["axis"]
    offsets, strides = [0] * rank, [1] * rank
    offsets[axis], strides[axis] = node.attrs["start"], node.attrs["step"]
    return E.tensor.ExtractSliceOp(E.tensor_type(out.shape, out.dtype), E.value(x), [], [], [], offsets,
                                   list(out.shape), strides).result


def concat(E, node: Node):
    out, axis = E.types[node.output], node.attrs["axis"]
    result, offset = E.empty(out.shape, out.dtype), 0
    for name in node.inputs:
        shape = E.shape(name)
        offsets = [offset if i == axis else 0 for i in range(len(shape))]
        result = E.tensor.InsertSliceOp(E.value(name), result, [], [], [], offsets, list(shape),
                                        [1] * len(shape)).result
        offset += shape[axis]
    return result


def expand(E, node: Node):
    x, out = node.inputs[0], E.types[node.output]
    return E.pointwise([(E.value(x), E.shape(x))], out.shape, out.dtype, lambda v: v)


def pad(E, node: Node):
    x = node.inputs[0]
    pads = node.attrs["pads"]
    return E.pad(E.value(x), [lo for lo, _ in pads], [hi for _, hi in pads], node.attrs["value"], E.dtype(x))


def _gather_generic(E, out, index_of):
    """out[i...] = table read at `index_of(i... as index values)`, a generic over the output with no inputs."""
    rank = len(out.shape)
    d = E.dims(rank)
    return E.generic([], [E.empty(out.shape, out.dtype)], [d], [E.PAR] * rank,
                     lambda _: E.tensor.extract(*index_of([E.index(i) for i in range(rank)])), rank)


def upsample_nearest(E, node: Node):
    """out[n, c, i, j] = in[n, c, floor(i * H / OH), floor(j * W / OW)] (torch's "nearest")."""
    x, out = node.inputs[0], E.types[node.output]
    h, w = E.shape(x)[2:]
    oh, ow = out.shape[2:]
    a, xv = E.arith, E.value(x)
    idx = E.ir.IndexType.get()

    def source(i, size_in, size_out):
        return a.divui(a.muli(i, a.constant(idx, size_in)), a.constant(idx, size_out))

    return _gather_generic(E, out, lambda ix: (xv, [ix[0], ix[1], source(ix[2], h, oh), source(ix[3], w, ow)]))


def gather(E, node: Node):
    """numpy's take(table, indices, axis): out[i_<axis, j..., i_>axis] = table[i_<axis, indices[j...], i_>axis]. An
    index outside the table is clamped into it (the interpreter refuses one), so a bad index never reads outside
    the buffer."""
    table, indices = node.inputs
    out = E.types[node.output]
    axis = node.attrs["axis"] % len(E.shape(table))
    k = len(E.shape(indices))
    rows = E.shape(table)[axis]
    a, idx = E.arith, E.ir.IndexType.get()
    tv, iv = E.value(table), E.value(indices)

    def read(ix):
        row = a.index_cast(idx, E.tensor.extract(iv, ix[axis:axis + k]))
        row = a.minsi(a.maxsi(row, a.constant(idx, 0)), a.constant(idx, rows - 1))
        return tv, ix[:axis] + [row] + ix[axis + k:]

    return _gather_generic(E, out, read)


RULES = {Op.RESHAPE: reshape, Op.PERMUTE: permute, Op.SLICE: slice_, Op.CONCAT: concat, Op.EXPAND: expand,
         Op.PAD: pad, Op.UPSAMPLE_NEAREST: upsample_nearest, Op.GATHER: gather}
