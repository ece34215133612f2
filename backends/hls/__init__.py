"""The HLS backend: the int8 Graph (with its `q` records, after fuse) rendered as a Vitis HLS C++ project over the
header-only kernels in runtime/hls/, for FPGA parts (targets carry a `settings.HlsSettings`).

- `layers`: which kernel renders each node (builders in `layers_compute`, `layers_reduce`, `layers_movement`, over
  the vocabulary of `plan`), with its config record (`configs`) and ROM tables; refusals by name;
- `render`, `parallel`, `stream`: the C++ files, io_parallel (arrays) or io_stream (hls::stream under DATAFLOW);
- `estimate`: DSP / BRAM / LUT / FF, II and latency, and the fit check against the part;
- `project`: the testbench with test vectors and build_prj.tcl; `csim`: g++ C-simulation; `artifact`: the Artifact.

`HLS_BACKEND` is its declaration in `edgelower.backends.BACKENDS`; `HlsOptions` its compile options.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from edgelower.ir.graph import Node, TensorType

from edgelower.backends.hls.settings import HlsSettings
from edgelower.backends.protocol import Backend


@dataclass(frozen=True)
class HlsOptions:
    """io_type: "io_parallel" (arrays, layers one after another) or "io_stream" (hls::stream, DATAFLOW).
    reuse_factor: how many times each multiplier is used per pipelined position (hls4ml's ReuseFactor): an int for
    every layer, or "auto", the smallest balanced folding that fits the part. layer_reuse: per-layer overrides by
    node name. check_resources: refuse a design the estimate puts over the part's budget."""

    io_type: str = "io_parallel"
    reuse_factor: Any = "auto"
    layer_reuse: Mapping[str, int] = field(default_factory=dict)
    check_resources: bool = True

    def __post_init__(self):
        from edgelower.backends.hls.render import IO_TYPES

        if self.io_type not in IO_TYPES:
            raise ValueError(f"io_type={self.io_type!r}; valid: {', '.join(IO_TYPES)}")
        if self.reuse_factor != "auto" and (not isinstance(self.reuse_factor, int) or self.reuse_factor < 1):
            raise ValueError(f"reuse_factor={self.reuse_factor!r}; valid: 'auto' or a positive integer")


def PARTS_BY_SIZE() -> list[tuple[str, HlsSettings]]:
    """The HLS target rows, smallest part first (by DSP, then BRAM): where a design that does not fit might."""
    from edgelower.targets import TARGETS

    rows = [(t.name, t.settings) for t in TARGETS.values() if isinstance(t.settings, HlsSettings)]
    unique = {}
    for name, s in rows:
        unique.setdefault(s.part, (name, s))
    return sorted(unique.values(), key=lambda r: (r[1].dsp, r[1].bram_18k))


def _emit(request):
    from edgelower.backends.hls.generate import generate

    return generate(request)


def _load(directory, manifest, target):
    from edgelower.backends.hls.artifact import load_hls

    return load_hls(directory, manifest, target)


def _unsupported(node: Node, types: Mapping[str, TensorType]) -> str | None:
    from edgelower.backends.hls.layers import unsupported

    return unsupported(node, types)


HLS_BACKEND = Backend(name="hls", consumes="graph", integer_form="records", settings_type=HlsSettings,
                      unsupported=_unsupported, emit=_emit, load=_load, options_type=HlsOptions,
                      description="Vitis HLS C++ for FPGA parts: C-simulation with g++ and ap_types, estimates")
