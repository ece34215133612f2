"""The C backend: a planned Schedule rendered as C99 over the edgelower runtime (`render`), through kernel tables
for float (`kernels`) and int8 (`kernels_s8`, `transformer`), selected by `dispatch`, with C spelling in `syntax`.
Its Artifact (`artifact`) builds for the host or a Cortex-M core; its targets carry a `settings.CSettings`.

`C_BACKEND` is its declaration in `edgelower.backends.BACKENDS`.
"""

from __future__ import annotations

from typing import Mapping

from edgelower.ir.graph import Node, Op, TensorType
from edgelower.passes.memory.features import READ_BEFORE_WRITE, InPlace, MemoryFeatures

from edgelower.backends.c.settings import COptions, CSettings
from edgelower.backends.protocol import Backend


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


def _emit(request):
    from edgelower.backends.artifact import IOSpec
    from edgelower.backends.c.artifact import CArtifact
    from edgelower.backends.c.render import render_c

    form = (request.options.weights if request.options is not None else None) or request.target.settings.weights
    files = render_c(request.schedule, request.prefix, form)
    return CArtifact(files, IOSpec.from_graph(request.schedule.graph, request.prefix), request.target)


def _load(directory, manifest, target):
    from edgelower.backends.c.artifact import load_c

    return load_c(directory, manifest, target)


def _unsupported(node: Node, types: Mapping[str, TensorType]) -> str | None:
    from edgelower.backends.c.dispatch import unsupported

    return unsupported(node, types)


C_BACKEND = Backend(name="c", consumes="schedule", integer_form="records", settings_type=CSettings,
                    unsupported=_unsupported, emit=_emit, load=_load, memory=C_MEMORY, options_type=COptions,
                    description="C99 over the edgelower runtime: host (ctypes) and Cortex-M (QEMU)")
