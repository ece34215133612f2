"""Data movement: exact in every dtype. Nearest upsampling gathers rows and columns at the interpreter's indices
(floor(i * in / out)), so it is PyTorch's "nearest" by construction; GATHER clips its indices (an index out of
range is the interpreter's IndexError, and TVM's unchecked "fast" mode could read out of bounds)."""

from __future__ import annotations

from edgelower.backends.tvm.rules import Rule
from edgelower.interp.float_ops import _nearest_index
from edgelower.ir.graph import Op


def _reshape(ctx, call):
    return ctx.R.reshape(call.args[0], call.attrs["shape"])


def _permute(ctx, call):
    return ctx.R.permute_dims(call.args[0], list(call.attrs["perm"]))


def _concat(ctx, call):
    return ctx.R.concat(list(call.args), axis=call.attrs["axis"])


def _slice(ctx, call):
    a = call.attrs
    return ctx.R.strided_slice(call.args[0], axes=[a["axis"]], begin=[a["start"]], end=[a["end"]],
                               strides=[a["step"]])


def _expand(ctx, call):
    return ctx.R.broadcast_to(call.args[0], call.attrs["shape"])


def _pad(ctx, call):
    widths = [w for pair in call.attrs["pads"] for w in pair]
    value = call.attrs["value"]
    if not call.out.dtype.is_float and float(value) != int(value):
        raise ValueError(f"{call.name}: pad value {value} is not an integer of {call.dtype}")
    return ctx.R.nn.pad(call.args[0], widths, pad_value=float(value))


def _upsample_nearest(ctx, call):
    x = call.args[0]
    (h, w), (oh, ow) = call.ins[0].shape[2:], call.attrs["size"]
    rows = ctx.emit(ctx.R.take(x, ctx.const(_nearest_index(h, oh), "int64"), axis=2, mode="clip"))
    return ctx.R.take(rows, ctx.const(_nearest_index(w, ow), "int64"), axis=3, mode="clip")


def _gather(ctx, call):
    table, indices = call.args
    return ctx.R.take(table, indices, axis=call.attrs["axis"], mode="clip")


RULES: dict[Op, Rule] = {
    Op.RESHAPE: Rule(_reshape),
    Op.PERMUTE: Rule(_permute),
    Op.CONCAT: Rule(_concat),
    Op.SLICE: Rule(_slice),
    Op.EXPAND: Rule(_expand),
    Op.PAD: Rule(_pad),
    Op.UPSAMPLE_NEAREST: Rule(_upsample_nearest),
    Op.GATHER: Rule(_gather),
}
