"""What the C runtime's kernels let the memory plan share: the C backend's MemoryFeatures."""

from __future__ import annotations

from typing import Mapping

from edgelower.ir.graph import Node, Op, TensorType
from edgelower.passes.memory.features import READ_BEFORE_WRITE, InPlace, MemoryFeatures


def _is_depthwise(node: Node, types: Mapping[str, TensorType]) -> bool:
    """Depthwise with more than one channel: with one, the scratch would cost what running in place saves."""
    channels = types[node.inputs[0]].shape[1]
    return node.attrs["groups"] == channels == types[node.output].shape[1] > 1


def _one_plane(node: Node, types: Mapping[str, TensorType]) -> TensorType:
    y = types[node.output]
    return TensorType((y.shape[2] * y.shape[3],), y.dtype)


# The runtime's aliasing contract (runtime/include/edgelower.h, "Aliasing"): every elementwise and normalization
# kernel reads before it writes, and depthwise convolution runs in place as TinyEngine's does — each channel's
# output plane goes to a one-plane scratch buffer, then over that channel's input plane, which no later channel
# reads. Only where the output has the input's shape (stride 1, "same" padding), so a storage never changes size.
C_MEMORY = MemoryFeatures(
    views=True,
    in_place={**READ_BEFORE_WRITE.in_place, Op.CONV2D: InPlace((0,), _is_depthwise, _one_plane)},
    alignment=16,
)
