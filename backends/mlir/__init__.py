"""The MLIR backend: a compiled Graph as linalg-on-tensors, built with the upstream MLIR Python bindings that ship in
iree-base-compiler (`builder`, over the rule table of `rules`: `elementwise`, `compute`, `reduce`, `movement`),
verified by the upstream verifier (`export`), compiled by IREE to a .vmfb and run by iree.runtime (`vmfb`,
`artifact`). Its targets carry an `settings.IreeSettings` (HAL backend, flags, runtime driver).

It consumes the pipeline's Graph and renders int8 as primitive integer ops (`decompose_integer`), so IREE computes
the interpreter's bytes. `MLIR_BACKEND` is its declaration in `edgelower.backends.BACKENDS`; nothing here imports
IREE, which is loaded inside `emit` and `load` (`bindings`).
"""

from __future__ import annotations

from edgelower.backends.artifact import IOSpec
from edgelower.backends.protocol import Backend, EmitRequest

from edgelower.backends.mlir.rules import unsupported
from edgelower.backends.mlir.settings import IreeSettings


def _emit(request: EmitRequest):
    from edgelower.backends.mlir.artifact import MLIR_FILE, IreeArtifact
    from edgelower.backends.mlir.export import export_mlir

    text = export_mlir(request.graph, request.target.name)
    return IreeArtifact({MLIR_FILE: text}, IOSpec.from_graph(request.graph, request.prefix), request.target)


def _load(directory, manifest, target):
    from edgelower.backends.mlir.artifact import load_iree

    return load_iree(directory, manifest, target)


MLIR_BACKEND = Backend(name="mlir", consumes="graph", integer_form="primitives", settings_type=IreeSettings,
                       unsupported=unsupported, emit=_emit, load=_load,
                       description="linalg-on-tensors MLIR compiled by IREE: CPU (llvm-cpu), CUDA, Vulkan")
