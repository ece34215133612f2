"""The backend protocol: what a backend declares, and what its `emit` receives.

A backend is a declaration plus a renderer. The declaration says what it consumes — the pipeline's Graph, or a
Schedule planned with the memory features its kernels support — which integer form its pipeline must produce
(`q` records for fused kernels, or primitive integer ops from decompose_integer), the settings record its target
rows carry, the ops it renders (`unsupported` answers per node, checked before anything is written), and how to
`emit` an Artifact and `load` a saved one. Adding a backend is a new sub-package with one such declaration, an
entry in `BACKENDS` and its target rows; nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from edgelower.errors import BackendUnsupportedError, Unsupported
from edgelower.ir.graph import Graph, Node, TensorType
from edgelower.ir.schedule import Schedule
from edgelower.passes.memory.features import MemoryFeatures

CONSUMES = ("graph", "schedule")
INTEGER_FORMS = ("records", "primitives")


@dataclass(frozen=True)
class EmitRequest:
    """What `emit` gets: the compiled graph, its planned schedule (schedule consumers only), the target row, the
    symbol prefix of the generated API, and the backend's own options value (its `options_type`, or None)."""

    graph: Graph
    schedule: Schedule | None
    target: Any
    prefix: str = "model"
    options: Any = None


@dataclass(frozen=True)
class Backend:
    name: str
    consumes: str                      # "graph" or "schedule"
    integer_form: str                  # what quantize="int8" lowers to: "records" or "primitives"
    settings_type: type                # the record its targets carry in Target.settings
    unsupported: Callable[[Node, Mapping[str, TensorType]], "str | None"]   # None: renders it; else why not
    emit: Callable[[EmitRequest], Any]            # -> Artifact
    load: Callable[[Path, dict, Any], Any]        # (project directory, manifest, target) -> Artifact
    memory: MemoryFeatures | None = None          # schedule consumers: what the plan may share
    options_type: type | None = None              # backend-specific compile options (frozen dataclass)
    description: str = ""
    # Whether `load` rebuilds an artifact from its emitted files alone, so compile_cache may keep and reload them
    # (False: the artifact needs what emit held in memory, e.g. TVM's lowered module, to build).
    reloads_from_files: bool = True

    def __post_init__(self):
        if self.consumes not in CONSUMES or self.integer_form not in INTEGER_FORMS:
            raise ValueError(f"backend {self.name}: consumes {self.consumes!r} / integer_form {self.integer_form!r}")
        if (self.consumes == "schedule") != (self.memory is not None):
            raise ValueError(f"backend {self.name}: a schedule consumer declares its memory features, no other does")

    def check(self, graph: Graph, target_name: str) -> None:
        """Raise BackendUnsupportedError naming every node this backend cannot render (with its source line)."""
        problems = []
        for node in graph.nodes:
            why = self.unsupported(node, graph.types)
            if why is not None:
                problems.append(Unsupported(f"{node.op.name}: {why}", node.name, node.source))
        if problems:
            raise BackendUnsupportedError(self.name, target_name, problems)
