"""`generate(request)`: the HLS backend's emit. Plans every layer (refusing by name), chooses the reuse factors,
estimates and checks the design against the part, and only then renders the files: a design that does not fit, or
a node without a kernel, raises before anything is written."""

from __future__ import annotations

from edgelower.backends.artifact import IOSpec
from edgelower.errors import BackendUnsupportedError, Unsupported

from edgelower.backends.hls import HlsOptions
from edgelower.backends.hls.artifact import HlsArtifact
from edgelower.backends.hls.estimate import auto_reuse, check_fit, estimate, reuse_for
from edgelower.backends.hls.layers import plan_graph
from edgelower.backends.hls.project import build_tcl, test_vectors, testbench
from edgelower.backends.hls.render import render_hls


def generate(request) -> HlsArtifact:
    graph, target = request.graph, request.target
    options = request.options or HlsOptions()
    settings = target.settings
    try:
        plans = plan_graph(graph)
    except BackendUnsupportedError as e:
        raise BackendUnsupportedError("hls", target.name, e.items) from None
    constant_outputs = [v for v in graph.outputs if v in graph.constants]
    if constant_outputs:
        raise BackendUnsupportedError("hls", target.name, [Unsupported(
            "OUTPUT: a constant graph output has no producer to stream it", v, "") for v in constant_outputs])
    unknown = set(options.layer_reuse) - {p.node.name for p in plans}
    if unknown:
        raise ValueError(f"layer_reuse names no layer: {sorted(unknown)}")
    if options.reuse_factor == "auto":
        reuse = auto_reuse(graph, plans, options.io_type, settings, options.layer_reuse)
    else:
        reuse = reuse_for(plans, options.reuse_factor, options.layer_reuse)
    est = estimate(graph, plans, reuse, options.io_type, settings)
    if options.check_resources:
        check_fit(graph, plans, est, settings, options, target.name)
    plans = [p.with_reuse(reuse[p.node.name]) for p in plans]
    prefix = IOSpec.from_graph(graph, request.prefix).prefix
    files = render_hls(graph, plans, options.io_type, prefix)
    files[f"{prefix}_test.cpp"] = testbench(graph, prefix, options.io_type)
    files["build_prj.tcl"] = build_tcl(prefix, settings, target.name)
    files.update(test_vectors(graph))
    return HlsArtifact(files, IOSpec.from_graph(graph, prefix), target, est.to_dict(), options.io_type)
