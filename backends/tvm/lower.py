"""Our Graph as a Relax IRModule, built with relax.BlockBuilder: one function `main(inputs..., weights...)` whose
body is one dataflow block, a binding per IR value, in graph order.

Each op is lowered by its rule in one of the rule tables (`rules_compute`, `rules_elementwise`, `rules_integer`,
`rules_movement`, `rules_reduce`), merged into `RULES`. A rule receives an `OpCall` (Relax arguments, complete
attributes, the IR types in and out) and the `Lowering` context, and returns one Relax expression; the context
checks that its struct info is exactly the IR type, so a rule can never change a shape or dtype unnoticed.
`unsupported` answers from the same tables, without importing TVM, before anything is built.

Constants: a scalar (one element) is an inline `R.const`; every larger constant is a parameter of `main` named
after it, returned in `params` so the build binds it (relax.transform.BindParams). The module text is therefore
small and deterministic: the same graph prints the same TVMScript, byte for byte.

Nodes that still carry a `q` record (the float pipeline keeps REQUANTIZE at the edges of int_only=False regions)
are first written as primitive integer ops by `lower_to_primitives`, the same pass the int8 pipeline of this
backend ends with, so the bytes are the interpreter's by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from edgelower.backends.tvm.rules import Rule, merge_rules
from edgelower.ir.graph import DType, Graph, Node, Op, TensorType
from edgelower.ir.ops import complete_attrs
from edgelower.ir.traits import is_integer


def _tables() -> dict[Op, Rule]:
    from edgelower.backends.tvm import rules_compute, rules_elementwise, rules_integer, rules_movement, rules_reduce

    return merge_rules(rules_compute.RULES, rules_elementwise.RULES, rules_integer.RULES, rules_movement.RULES,
                       rules_reduce.RULES)


RULES: dict[Op, Rule] = _tables()


def unsupported(node: Node, types: Mapping[str, TensorType]) -> str | None:
    """None when the lowering has a rule for `node` (a node with a `q` record: for every op of its program)."""
    if is_integer(node):
        from edgelower.interp.integer import PROGRAMS

        return None if node.op in PROGRAMS else "no integer program for this op (interp.integer.PROGRAMS)"
    rule = RULES.get(node.op)
    if rule is None:
        return "no Relax lowering for this op (backends/tvm RULES)"
    return rule.refuses(node, types)


def tvm_dtype(dtype: DType) -> str:
    """The TVM dtype holding an IR dtype's values (sub-byte values live unpacked in int8, as in numpy)."""
    return dtype.numpy.name


@dataclass(frozen=True)
class OpCall:
    """One op applied to Relax values: what a rule lowers."""

    op: Op
    args: tuple[Any, ...]           # relax.Expr, one per input
    attrs: Mapping[str, Any]        # complete (defaults filled)
    ins: tuple[TensorType, ...]
    out: TensorType
    name: str
    known: tuple[np.ndarray | None, ...] = ()   # an input's data where it is a graph constant, else None

    def constant(self, i: int) -> np.ndarray | None:
        return self.known[i] if i < len(self.known) else None

    @property
    def dtype(self) -> str:
        return tvm_dtype(self.out.dtype)


class Lowering:
    """The BlockBuilder and the helpers rules share: constants, emission, and checked application of rules."""

    def __init__(self):
        import tvm
        from tvm import relax

        self.tvm, self.relax, self.R = tvm, relax, relax.op
        self.bb = relax.BlockBuilder()

    def emit(self, expr, name: str = ""):
        return self.bb.emit(expr, name_hint=name)

    def const(self, value, dtype: str):
        """A constant of `dtype` (a scalar for a Python number), converted modulo 2^bits like astype."""
        return self.relax.const(np.asarray(value).astype(dtype), dtype)

    def struct_dtype(self, expr) -> str:
        return str(expr.ty.dtype)

    def shape(self, expr) -> tuple[int, ...]:
        return tuple(int(d) for d in expr.ty.shape.values)

    def astype(self, expr, dtype: str):
        return expr if self.struct_dtype(expr) == dtype else self.R.astype(expr, dtype)

    def apply(self, call: OpCall):
        """The rule of `call.op` applied, emitted and checked against the IR's output type."""
        expr = self.emit(RULES[call.op].lower(self, call), call.name)
        got = (self.shape(expr), self.struct_dtype(expr))
        want = (call.out.shape, tvm_dtype(call.out.dtype))
        if got != want:
            raise AssertionError(f"TVM lowering of {call.op.name} ({call.name}) gave {got[1]}{list(got[0])}, the IR "
                                 f"says {want[1]}{list(want[0])}")
        return expr

    def activated(self, call: OpCall, expr):
        """`expr` (the op's own result) with the op's fused `activation` applied, by that activation's rule."""
        from edgelower.ir.ops import parse_activation

        fused = parse_activation(call.attrs.get("activation"))
        if fused is None:
            return expr
        op, attrs = fused
        result = self.emit(expr, f"{call.name}_{op.name.lower()}_input")
        return RULES[op].lower(self, OpCall(op, (result,), complete_attrs(op, attrs), (call.out,), call.out,
                                            call.name))


@dataclass(frozen=True)
class LoweredModule:
    """The Relax module of a graph, the arrays its weight parameters take, and its deterministic text."""

    module: Any                       # tvm.IRModule
    params: Mapping[str, np.ndarray]  # main's weight parameters, by name, in order
    text: str


def lower_graph(graph: Graph) -> LoweredModule:
    """`graph` (after this backend's pipeline) as a Relax IRModule; raises BackendUnsupportedError-worthy problems
    before this point (`unsupported`)."""
    if any(is_integer(node) for node in graph.nodes):
        from edgelower.passes.integer.decompose_integer import lower_to_primitives

        graph = lower_to_primitives(graph)
    ctx = Lowering()
    relax = ctx.relax
    types = graph.types
    weights = [c for c in graph.constants if types[c].numel > 1 and _used(graph, c)]
    names = [*graph.inputs, *weights]
    params = [relax.Var(name, relax.TensorType(types[name].shape, tvm_dtype(types[name].dtype))) for name in names]
    values: dict[str, Any] = dict(zip(names, params))
    with ctx.bb.function("main", params, attrs={"num_input": len(graph.inputs)}):
        with ctx.bb.dataflow():
            for name in graph.constants:
                if name not in values:
                    values[name] = ctx.const(graph.constant(name), tvm_dtype(types[name].dtype))
            for node in graph.nodes:
                args = tuple(values[v] for v in node.inputs)
                known = tuple(graph.constant(v) if graph.is_constant(v) else None for v in node.inputs)
                values[node.output] = ctx.apply(OpCall(
                    node.op, args, complete_attrs(node.op, node.attrs), tuple(types[v] for v in node.inputs),
                    types[node.output], node.name, known))
            result = ctx.bb.emit_output(relax.Tuple([values[v] for v in graph.outputs]))
        ctx.bb.emit_func_output(result)
    module = ctx.bb.get()
    arrays = {name: np.ascontiguousarray(graph.constant(name)).astype(tvm_dtype(types[name].dtype))
              for name in weights}
    return LoweredModule(module, arrays, module.script())


def _used(graph: Graph, name: str) -> bool:
    return any(name in node.inputs for node in graph.nodes) or name in graph.outputs
