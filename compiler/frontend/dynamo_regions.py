"""Partial compilation under torch.compile: the regions of a graph that edgelower supports are compiled, the ops
it does not run in eager PyTorch between them (as TVM's and ExecuTorch's partitioners do). Only for targets whose
artifact runs in this process (the host): a firmware image cannot call back into PyTorch.

Pre: an ATen GraphModule from aot_autograd whose whole-graph capture raised UnsupportedOpError, and the nodes it
named. Post: the same GraphModule, each supported region fused into a submodule that runs its compiled artifact;
everything else (the unsupported nodes, and any region that still cannot be captured) is the graph's own eager
code. Each region is captured and compiled exactly as a whole graph would be, so it computes what eager does;
a region that fails to capture is simply left in eager: never a wrong answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch.fx.passes.infra.partitioner import CapabilityBasedPartitioner
from torch.fx.passes.operator_support import OperatorSupportBase
from torch.fx.passes.utils.fuser_utils import fuse_as_graphmodule, fuse_by_partitions, topo_sort

from edgelower.frontend.aten_ops import ATEN_TO_IR
from edgelower.frontend.capture import IR_DTYPES, capture_graph_module, qualified_name, source_line
from edgelower.errors import CaptureError, UnsupportedOpError
from edgelower.ir.graph import Graph

REGION_PREFIX = "edgelower_region_"
# Each round leaves out the nodes a region's own capture found unlowerable (e.g. a dtype only known there); a
# handful of rounds settles any real graph, and what is still unsettled after them stays in eager.
MAX_ROUNDS = 4


@dataclass(frozen=True)
class ModelState:
    """Which placeholders of the aot graph hold the model's parameters and buffers (baked in as constants), and
    the user-facing names of the others (see dynamo._model_state)."""

    weights: Mapping[int, tuple[str, torch.Tensor]]
    names: Mapping[int, str]


class _Supported(OperatorSupportBase):
    """A call to an op capture lowers, not among the nodes known to fail; `getitem` only of a supported node (a
    region never receives a tuple)."""

    def __init__(self, unsupported: set[str]):
        super().__init__()
        self.unsupported = unsupported

    def is_node_supported(self, submodules, node: torch.fx.Node) -> bool:
        if node.op != "call_function" or node.name in self.unsupported:
            return False
        if qualified_name(node.target) not in ATEN_TO_IR:
            return False
        if not all(_has_ir_dtype(n) for n in (node, *node.all_input_nodes)):
            return False  # e.g. abs of a complex FFT: the IR holds no complex values
        source = node.args[0] if qualified_name(node.target) == "operator.getitem" else None
        return not isinstance(source, torch.fx.Node) or self.is_node_supported(submodules, source)


def _has_ir_dtype(node: torch.fx.Node) -> bool:
    vals = node.meta.get("val")
    vals = vals if isinstance(vals, (tuple, list)) else [vals]
    return all(v.dtype in IR_DTYPES for v in vals if isinstance(v, torch.Tensor))


class _CompiledRegion(torch.nn.Module):
    """A fused region's stand-in: its run-time inputs to the compiled artifact, its outputs back as a tuple of
    tensors (the parameters among its inputs are baked into the artifact)."""

    def __init__(self, compiled: Any, runtime: list[int]):
        super().__init__()
        self.compiled, self.runtime = compiled, runtime

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        arrays = [args[i].detach().cpu().numpy() for i in self.runtime]
        return tuple(torch.from_numpy(np.require(out, requirements="W")) for out in self.compiled.run_numpy(arrays))


def compile_regions(gm: torch.fx.GraphModule, state: ModelState, unsupported: set[str],
                    compile_graph: Callable[[Graph], Any]) -> tuple[int, list[torch.fx.Node]]:
    """Fuse and compile the supported regions of `gm` in place. Returns how many regions were compiled and the
    call nodes left to eager PyTorch (for the warning)."""
    placeholders = _placeholder_positions(gm)
    unsupported = _with_producers(gm, unsupported)
    for _ in range(MAX_ROUNDS):
        partitioner = CapabilityBasedPartitioner(gm, _Supported(unsupported), allows_single_node_partition=True)
        regions, failed = [], set()
        for partition in partitioner.propose_partitions():
            nodes = topo_sort(list(partition.nodes))
            sub, inputs, _ = fuse_as_graphmodule(gm, nodes, "probe", always_return_tuple=True)
            try:
                _capture_region(sub, inputs, placeholders, state)
            except UnsupportedOpError as e:
                failed.update(item.node for item in e.items)
            except CaptureError:
                continue  # a region torch shapes in a way no static graph holds: it stays in eager
            else:
                regions.append(partition.nodes)
        if not failed:
            break
        unsupported |= _with_producers(gm, failed)
    fuse_by_partitions(gm, regions, prefix=REGION_PREFIX, always_return_tuple=True)
    placeholders = _placeholder_positions(gm)  # the fused graph is a new one (a stable topological sort)
    for call in [n for n in gm.graph.nodes if n.op == "call_module" and n.target.startswith(REGION_PREFIX)]:
        graph, runtime = _capture_region(gm.get_submodule(call.target), call.args, placeholders, state)
        gm.add_submodule(call.target, _CompiledRegion(compile_graph(graph), runtime))
    gm.recompile()
    eager = [n for n in gm.graph.nodes if n.op == "call_function" and qualified_name(n.target) != "operator.getitem"]
    return len(regions), eager


def _with_producers(gm: torch.fx.GraphModule, names: set[str]) -> set[str]:
    """`names` and, for each `getitem` among them, the multi-output node it reads: the partitioner keeps a
    getitem in its producer's region, so an output the IR does not compute (max_pool2d's indices) keeps the
    whole op out."""
    nodes = {node.name: node for node in gm.graph.nodes}
    producers = {nodes[n].args[0].name for n in names if n in nodes and nodes[n].op == "call_function"
                 and qualified_name(nodes[n].target) == "operator.getitem"}
    return set(names) | producers


def _placeholder_positions(gm: torch.fx.GraphModule) -> dict[torch.fx.Node, int]:
    return {node: i for i, node in enumerate(n for n in gm.graph.nodes if n.op == "placeholder")}


def _capture_region(sub: torch.fx.GraphModule, inputs, placeholders: Mapping[torch.fx.Node, int],
                    state: ModelState) -> tuple[Graph, list[int]]:
    """Capture a region; its inputs that are model state become constants. Returns the graph and the positions
    of the region's run-time inputs."""
    constants, names, runtime = {}, {}, []
    for j, node in enumerate(inputs):
        position = placeholders.get(node)
        if position in state.weights:
            names[j], constants[j] = state.weights[position]
        else:
            names[j] = state.names.get(position, node.name)
            runtime.append(j)
    examples = [node.meta.get("val") for node in inputs]
    return capture_graph_module(sub, examples, constants, names), runtime


def eager_summary(nodes: list[torch.fx.Node]) -> str:
    """One line per op kind left to eager PyTorch, with the user's source line of its first node."""
    first: dict[str, torch.fx.Node] = {}
    count: dict[str, int] = {}
    for node in nodes:
        op = qualified_name(node.target)
        first.setdefault(op, node)
        count[op] = count.get(op, 0) + 1
    lines = []
    for op, node in first.items():
        where = source_line(node.meta.get("stack_trace"))
        lines.append(f"  {op}" + (f" x{count[op]}" if count[op] > 1 else "") + (f"\n      at {where}" if where else ""))
    return "\n".join(lines)
