"""The C backend: a planned Schedule rendered as C99 over the edgelower runtime (`render`), through kernel tables
for float (`kernels`) and int8 (`kernels_s8`, `transformer`), selected by `dispatch`, with C spelling in `syntax`.
Its Artifact (`artifact`) builds for the host or a Cortex-M core; its targets carry a `settings.CSettings`.

`C_BACKEND` is its declaration in `edgelower.backends.BACKENDS`.
"""

from __future__ import annotations

from edgelower.backends.artifact import IOSpec
from edgelower.backends.c.artifact import CArtifact, load_c
from edgelower.backends.c.dispatch import unsupported
from edgelower.backends.c.memory import C_MEMORY
from edgelower.backends.c.render import render_c
from edgelower.backends.c.settings import COptions, CSettings
from edgelower.backends.protocol import Backend, EmitRequest


def _emit(request: EmitRequest) -> CArtifact:
    form = (request.options.weights if request.options is not None else None) or request.target.settings.weights
    files = render_c(request.schedule, request.prefix, form)
    return CArtifact(files, IOSpec.from_graph(request.schedule.graph, request.prefix), request.target)


C_BACKEND = Backend(name="c", consumes="schedule", integer_form="records", settings_type=CSettings,
                    unsupported=unsupported, emit=_emit, load=load_c, memory=C_MEMORY, options_type=COptions,
                    description="C99 over the edgelower runtime: host (ctypes) and Cortex-M (QEMU)")
