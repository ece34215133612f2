"""The Apache TVM backend: our Graph, after our passes, lowered to a Relax IRModule (`lower`, through the rule
tables `rules_*`), built by TVM for a CPU (LLVM) or an NVIDIA GPU (CUDA with dlight schedules, `cuda`) and run by
the Relax VM (`artifact`, `build`); MetaSchedule tuning on request (`tune`). Its int8 graphs arrive as primitive
integer ops (`decompose_integer`), which the rules express exactly, so its bytes are the interpreter's.

`TVM_BACKEND` is its declaration in `edgelower.backends.BACKENDS`. Nothing here imports TVM: it is imported when a
module is built or run, and its absence is an error naming `pip install 'edgelower[tvm]'`.
"""

from __future__ import annotations

from edgelower.backends.artifact import IOSpec
from edgelower.backends.protocol import Backend, EmitRequest
from edgelower.backends.tvm.artifact import MODULE_TEXT, TvmArtifact, load_tvm
from edgelower.backends.tvm.lower import unsupported
from edgelower.backends.tvm.settings import TvmOptions, TvmSettings


def _emit(request: EmitRequest) -> TvmArtifact:
    from edgelower.backends.tvm.build import import_tvm
    from edgelower.backends.tvm.lower import lower_graph

    import_tvm()
    lowered = lower_graph(request.graph)
    return TvmArtifact({MODULE_TEXT: lowered.text}, IOSpec.from_graph(request.graph, request.prefix), request.target,
                       lowered, request.options)


TVM_BACKEND = Backend(name="tvm", consumes="graph", integer_form="primitives", settings_type=TvmSettings,
                      unsupported=unsupported, emit=_emit, load=load_tvm, options_type=TvmOptions,
                      description="Apache TVM: Relax built by LLVM (CPU) or CUDA (GPU), run by the Relax VM",
                      reloads_from_files=False)  # a build needs the lowered module; its saved form is the library
