"""Choose the order of the nodes that lowers the peak of live bytes.

Pre: a well-formed graph.
Post: the same nodes, in a topological order whose live-bytes peak (as `Schedule.peak_bytes` counts it after
passes/memory/alias_buffers.py) is at most the input order's; inputs, outputs, types and constants unchanged.

Why it is correct: nodes are pure functions of their inputs, so every topological order computes the same values.
Only where the graph branches (residual blocks, towers, concatenated branches) is there a choice, and there the
order decides which branch's buffers are live together.

The cost model is alias_buffers' own rules, through `view_offset` and `in_place_inputs`: a *class* is a value
with its views (views share bytes whatever the order). After running a set S of nodes, the live bytes are those
of the classes already produced that S has not finished reading (or that are graph outputs): a function of the
set, not of the order that ran it. While node v runs, its new classes are live too, less the class it overwrites
in place when v is the last reader of that class.

Search: dynamic programming over the sets already run, one level per node count. For each set only the order
with the smallest peak matters, so the search is exact while every level holds at most `MAX_STATES` sets; past
that it keeps the `MAX_STATES` most promising (smallest peak, then fewest live bytes): a beam, which is greedy
with lookahead. Ties keep the set closest to the input order. The input order stays unless the search found a
strictly lower peak, so the pass is deterministic and never makes the peak worse.
"""

from __future__ import annotations

from edgelower.ir.graph import Graph
from edgelower.ir.views import view_offset
from edgelower.passes.memory.alias_buffers import in_place_inputs, in_place_scratch
from edgelower.passes.memory.features import READ_BEFORE_WRITE, MemoryFeatures

MAX_STATES = 256   # sets kept per level; past this the search is a beam
MAX_NODES = 2000   # larger graphs keep their order


class PeakModel:
    """The graph as bit masks: per node its predecessors, the classes it reads, creates and may overwrite."""

    def __init__(self, graph: Graph, features: MemoryFeatures):
        nodes, types = graph.nodes, graph.types
        index = {o: i for i, node in enumerate(nodes) for o in node.outputs}
        cls: dict[str, str] = {name: name for name in graph.inputs}
        offset: dict[str, int] = {name: 0 for name in graph.inputs}
        self.view = []
        for node in nodes:
            x = node.inputs[0] if node.inputs else None
            shift = view_offset(node, types) if features.views and x in cls else None
            self.view.append(shift is not None)
            for o in node.outputs:
                cls[o], offset[o] = (cls[x], offset[x] + shift) if shift is not None else (o, 0)
        self.size = {c: types[c].nbytes for c in set(cls.values())}
        self.output = {cls[o] for o in graph.outputs if o in cls}
        self.readers = {c: 0 for c in self.size}
        self.preds, self.reads, self.new, self.overwrites, self.scratch = [], [], [], [], []
        for i, node in enumerate(nodes):
            arena_inputs = [v for v in node.inputs if v in cls]
            for v in arena_inputs:
                self.readers[cls[v]] |= 1 << i
            self.preds.append(sum({1 << index[v] for v in arena_inputs if v in index}))
            self.reads.append(sorted({cls[v] for v in arena_inputs}))
            self.new.append([] if self.view[i] else [o for o in node.outputs if cls[o] == o])
            # Static conditions of in place (alias_buffers): x fills its class from byte 0, and the node reads
            # that class through x alone. That the class dies here depends on the order.
            self.overwrites.append([
                cls[x] for x in in_place_inputs(node, types, features) if x in cls
                and offset[x] == 0 and types[x].nbytes == self.size[cls[x]]
                and {v for v in arena_inputs if cls[v] == cls[x]} == {x}])
            scratch = in_place_scratch(node, types, features) if self.overwrites[-1] else None
            self.scratch.append(scratch.nbytes if scratch is not None else 0)
        self.succs = [0] * len(nodes)
        for j, preds in enumerate(self.preds):
            for i in _bits(preds):
                self.succs[i] |= 1 << j
        self.inputs_live = sum(self.size[name] for name in graph.inputs if self._live(name, 0))
        self.inputs_all = sum(self.size[name] for name in graph.inputs)

    def _live(self, c: str, done: int) -> bool:
        """Class c (already produced) is still to be read after the nodes in `done`, or is a graph output."""
        return c in self.output or bool(self.readers[c] & ~done)

    def step(self, done: int, live: int, v: int) -> tuple[int, int]:
        """(bytes live while node v runs after the set `done`, bytes live after it)."""
        after_done = done | 1 << v
        new = sum(self.size[c] for c in self.new[v])
        dying = [c for c in self.overwrites[v] if not self._live(c, after_done)]
        # alias_buffers overwrites the first input that dies here, with the kernel's scratch live beside it.
        during = live + new - (self.size[dying[0]] - self.scratch[v] if dying else 0)
        freed = sum(self.size[c] for c in self.reads[v] if not self._live(c, after_done))
        kept = sum(self.size[c] for c in self.new[v] if self._live(c, after_done))
        return during, live - freed + kept

    def peak(self, order: list[int]) -> int:
        done, live, peak = 0, self.inputs_live, self.inputs_all
        for v in order:
            during, live = self.step(done, live, v)
            done |= 1 << v
            peak = max(peak, during)
        return peak


def best_order(model: PeakModel, n: int, max_states: int = MAX_STATES) -> tuple[list[int], int]:
    """The order with the smallest peak that the search finds, and that peak."""
    # state: set of nodes run -> (peak, live bytes after, ready nodes)
    level = {0: (model.inputs_all, model.inputs_live, sum(1 << v for v in range(n) if not model.preds[v]))}
    parents: list[dict[int, tuple[int, int]]] = []
    for _ in range(n):
        nxt: dict[int, tuple[int, int, int]] = {}
        back: dict[int, tuple[int, int]] = {}
        for done, (peak, live, ready) in level.items():
            bits = ready
            while bits:
                v = (bits & -bits).bit_length() - 1
                bits &= bits - 1
                during, after = model.step(done, live, v)
                state, cost = done | 1 << v, max(peak, during)
                if state not in nxt or cost < nxt[state][0]:
                    newly = sum(1 << u for u in _bits(model.succs[v]) if not model.preds[u] & ~state)
                    nxt[state] = (cost, after, (ready & ~(1 << v)) | newly)
                    back[state] = (done, v)
        if len(nxt) > max_states:
            nxt = dict(sorted(nxt.items(), key=lambda kv: (kv[1][0], kv[1][1], kv[0]))[:max_states])
        parents.append(back)
        level = nxt
    (state, (peak, _, _)), = level.items()
    order = []
    for back in reversed(parents):
        state, v = back[state]
        order.append(v)
    return order[::-1], peak


def _bits(mask: int):
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def reorder_nodes(graph: Graph, features: MemoryFeatures = READ_BEFORE_WRITE, max_states: int = MAX_STATES) -> Graph:
    """The graph with its nodes in the order of lowest live-bytes peak found; the input order on ties."""
    n = len(graph.nodes)
    if n < 2 or n > MAX_NODES:
        return graph
    model = PeakModel(graph, features)
    order, peak = best_order(model, n, max_states)
    if peak >= model.peak(list(range(n))):
        return graph
    return graph.replace(nodes=tuple(graph.nodes[v] for v in order))
