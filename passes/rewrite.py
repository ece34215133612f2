"""The one rewrite driver: local rules, given as data, applied to a fixed point.

A `Rule` names the ops it looks at and a function `(node, ctx) -> Rewrite | None`. A `Rewrite` says what the
matched node becomes: new nodes and constants placed where it stood, and for each of its outputs the value that
stands for it from now on. `rewrite(graph, rules)` applies the first matching rule at each node, in node order,
sweeping until no rule fires, and returns a new Graph; the input graph is never changed. A rewrite costs what it
touches (its nodes, the users of the values it renames), not the graph: the driver edits a WorkingGraph in place
and rebuilds a Graph only once per sweep, so a pass over N nodes is O(N) per sweep, not O(N) per rewrite.

Invariants the driver keeps (and checks, raising IRError naming the rule and the node):
- a new node reads only values defined before the matched node, so inserting it there keeps topological order;
- every output of the matched node is redefined or replaced by a value of exactly the same TensorType;
- graph inputs and outputs keep their names. When an output would become another value, that value is renamed to
  the output's name instead, unless it is a graph input or another output: then the rewrite is refused and the
  matched node stays as the copy that keeps the output's name.
- nodes and constants that no longer reach an output are dropped (after every sweep, so "single user" conditions
  see live users only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

import numpy as np

from edgelower.ir.graph import DType, Graph, Node, Op, TensorType
from edgelower.ir.names import sanitize
from edgelower.ir.ops import IRError, complete_attrs, infer_types
from edgelower.passes.working_graph import WorkingGraph


class RewriteLoopError(RuntimeError):
    """The rules did not reach a fixed point: some rules undo each other's work."""


@dataclass(frozen=True)
class Rewrite:
    """What a matched node becomes. New nodes may define the matched node's output names (no renaming needed);
    `replace` maps each output that is not redefined to the existing or new value that stands for it. `types`
    gives new values whose type is not the one `edgelower.ir.ops` infers (e.g. quantized)."""

    nodes: tuple[Node, ...] = ()
    constants: Mapping[str, np.ndarray] = field(default_factory=dict)
    replace: Mapping[str, str] = field(default_factory=dict)
    types: Mapping[str, TensorType] = field(default_factory=dict)


def alias(node: Node, value: str) -> Rewrite:
    """The node computes nothing: its (single) output is `value`."""
    return Rewrite(replace={node.output: value})


RuleFn = Callable[[Node, "RewriteContext"], "Rewrite | None"]


@dataclass(frozen=True)
class Rule:
    """`fn` is asked about every node whose op is in `ops` (one Op or several) and returns a Rewrite or None."""

    name: str
    ops: frozenset[Op]
    fn: RuleFn

    def __post_init__(self):
        object.__setattr__(self, "ops", frozenset([self.ops] if isinstance(self.ops, Op) else self.ops))


class RewriteContext:
    """What a rule may look at: the graph being rewritten and lookups over it, plus fresh names for new values.
    During a rewrite run it is a live view of the driver's WorkingGraph: every lookup costs O(1) (users: O(users))."""

    def __init__(self, graph: Graph | WorkingGraph, taken: set[str]):
        self._work = graph if isinstance(graph, WorkingGraph) else WorkingGraph(graph)
        self._taken = taken

    @property
    def graph(self) -> Graph:
        """The current graph as a value (built on demand: O(nodes))."""
        return self._work.to_graph()

    def producer(self, name: str) -> Node | None:
        return self._work.producer(name)

    def users(self, name: str) -> list[Node]:
        return self._work.users(name)

    def constant(self, name: str) -> np.ndarray | None:
        return self._work.constants.get(name)

    def type(self, name: str) -> TensorType:
        return self._work.types[name]

    def is_output(self, name: str) -> bool:
        return name in self._work.output_set

    def only_user(self, name: str, node: Node) -> bool:
        """`node` is the single consumer of `name`, and `name` is not a graph output: it may be fused away."""
        return not self.is_output(name) and self.users(name) == [node]

    def fresh(self, hint: str) -> str:
        """A name unused in this rewrite run. Deterministic: the same graph and rules give the same names."""
        base, n = sanitize(hint), 0
        name = base
        while name in self._taken:
            n += 1
            name = f"{base}_{n}"
        self._taken.add(name)
        return name


def drop_dead(graph: Graph) -> Graph:
    """Remove nodes and constants that do not reach an output. Inputs stay: they are the interface."""
    live = set(graph.outputs)
    kept: list[Node] = []
    for node in reversed(graph.nodes):
        if any(o in live for o in node.outputs):
            kept.append(node)
            live.update(node.inputs)
    kept.reverse()
    defined = set(graph.inputs) | {o for n in kept for o in n.outputs} | (live & set(graph.constants))
    return graph.replace(nodes=tuple(kept), types={k: t for k, t in graph.types.items() if k in defined},
                         constants={k: v for k, v in graph.constants.items() if k in live})


def _apply(work: WorkingGraph, index: int, rule: Rule, rw: Rewrite) -> dict[str, TensorType] | None:
    """Apply `rw` to node `index` of `work` in place; returns the values it defined, or None (and changes nothing)
    when it would take a graph output's name away. Everything is checked before anything changes."""
    old = work.nodes[index]
    where = f"rule '{rule.name}' at node {old.name} ({old.op.name})"
    if set(rw.replace) - set(old.outputs):
        raise IRError(f"{where}: replaces {sorted(set(rw.replace) - set(old.outputs))}, which it does not define")
    before = {o: work.types[o] for o in old.outputs}
    defined: dict[str, TensorType] = {}     # new values, in definition order: constants, then node outputs
    moved: dict[str, TensorType] = {}       # graph outputs that take over another value's definition
    gone: set[str] = set()                  # ... and the values they take over

    def type_of(name: str) -> TensorType:
        for table in (moved, defined):
            if name in table:
                return table[name]
        if name in gone or name in before:
            raise IRError(f"{where}: %{name} is not defined after the rewrite")
        return work.types[name]

    def visible(name: str) -> bool:
        return name in defined or work.visible_at(name, index)

    def define(name: str, ttype: TensorType) -> None:
        if name in defined or (name in work.types and name not in before) or name != sanitize(name):
            raise IRError(f"{where}: new value %{name} is taken or not a sanitized name")
        defined[name] = ttype

    constants = {}
    for name, data in rw.constants.items():
        data = np.array(data)
        data.setflags(write=False)
        define(name, rw.types.get(name, TensorType(data.shape, DType.of(data.dtype))))
        constants[name] = data
    nodes = []
    for node in rw.nodes:
        for i in node.inputs:
            if not visible(i):
                raise IRError(f"{where}: new node {node.name} reads %{i}, which is not defined before {old.name}")
        attrs = complete_attrs(node.op, node.attrs)
        for o, t in zip(node.outputs, infer_types(node.op, [type_of(i) for i in node.inputs], attrs)):
            define(o, rw.types.get(o, t))
        nodes.append(Node(node.op, node.inputs, node.outputs, attrs, node.name, node.source or old.source))
    renames: dict[str, str] = {}
    moves: list[tuple[str, str]] = []
    for o in old.outputs:
        target = o if o in defined else rw.replace.get(o)
        if target is None or (o in defined and o in rw.replace):
            raise IRError(f"{where}: output %{o} must be either redefined or replaced, exactly once")
        if not visible(target):
            raise IRError(f"{where}: %{o} is replaced by %{target}, which is not defined before {old.name}")
        if type_of(target) != before[o]:
            raise IRError(f"{where}: %{o}: {before[o]} would be replaced by %{target}: {type_of(target)}")
        if target == o:
            continue
        if o not in work.output_set:
            renames[o] = target  # uses of %o read %target
            continue
        target = renames.get(target, target)
        if target in work.output_set or target in work.input_set:
            return None  # the matched node stays: it is the copy that keeps two interface names apart
        renames[target] = o  # %target takes the output's name, at its definition and in every use
        moved[o] = type_of(target)
        gone.add(target)
        moves.append((target, o))
    for o, target in renames.items():
        while target in renames:  # %o -> %target, which may itself have taken an output's name
            target = renames[target]
        renames[o] = target
    # Checked: now change the graph, keeping the orders a Graph rebuilt from scratch would have.
    for o in old.outputs:
        del work.types[o]
    work.types.update(defined)
    work.constants.update(constants)
    for target, o in moves:
        work.types[o] = work.types.pop(target)
        if target in work.constants:
            work.constants[o] = work.constants.pop(target)
    work.splice(index, nodes)
    work.rename(renames)
    return defined


def rewrite(graph: Graph, rules: Iterable[Rule], *, name: str = "rewrite", max_rewrites: int | None = None) -> Graph:
    """Apply `rules` until none fires; return the new graph, without dead nodes or constants.

    At each node the rules for its op are tried in table order and the first Rewrite wins; the driver then looks at
    the same position again, so new nodes are matched at once. Raises RewriteLoopError after `max_rewrites`
    (default: 100 per node, at least 1000) rewrites, naming the rules that fired last.
    """
    table: dict[Op, list[Rule]] = {}
    for rule in rules:
        for op in rule.ops:
            table.setdefault(op, []).append(rule)
    limit = max_rewrites if max_rewrites is not None else max(1000, 100 * len(graph.nodes))
    taken = set(graph.types)
    work, count, recent = WorkingGraph(drop_dead(graph)), 0, []
    while True:
        changed, index = False, 0
        ctx = RewriteContext(work, taken)
        while index < len(work.nodes):
            node = work.nodes[index]
            for rule in table.get(node.op, ()):
                rw = rule.fn(node, ctx)
                defined = _apply(work, index, rule, rw) if rw is not None else None
                if defined is None:
                    continue
                changed, count = True, count + 1
                taken.update(defined)
                recent = (recent + [rule.name])[-8:]
                if count > limit:
                    raise RewriteLoopError(f"{name}: no fixed point after {limit} rewrites; the last rules that "
                                           f"fired: {', '.join(recent)}")
                break
            else:
                index += 1
        if not changed:
            return work.to_graph()
        # Dead nodes go once per sweep (O(nodes)), so "single user" conditions in the next sweep see live users.
        work = WorkingGraph(drop_dead(work.to_graph()))
