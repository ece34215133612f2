"""A Graph being rewritten: mutable and indexed, so that one rewrite costs what it touches, not the whole graph.

Only the rewrite driver (`passes/rewrite.py`) holds one, for the length of one sweep; passes still see Graph values
in and out. It keeps, beside the node list, each value's producer and its users in node order (a node that reads a
value twice is listed twice, as `Graph.users()` lists it), and a position key per node, so that "defined before
node i" and "where is node n" are a comparison and a binary search instead of scans.

Position keys: node i of the starting graph has key (i,); the nodes that replace a node of key K get K + (0,),
K + (1,), ... Tuples compare lexicographically, so the new keys sort after everything before K and before
everything after it, and keys stay sorted along the node list however often nodes are replaced.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import Mapping, Sequence

import numpy as np

from edgelower.ir.graph import Graph, Node, TensorType


def renamed_node(node: Node, renames: Mapping[str, str]) -> Node:
    """`node` reading and defining the renamed values; the node itself when no name of it changes."""
    if not renames or not any(n in renames for n in node.inputs + node.outputs):
        return node
    outputs = tuple(renames.get(o, o) for o in node.outputs)
    name = outputs[0] if node.name == node.outputs[0] else node.name
    return Node(node.op, tuple(renames.get(i, i) for i in node.inputs), outputs, node.attrs, name, node.source)


class WorkingGraph:
    def __init__(self, graph: Graph):
        self.name = graph.name
        self.inputs, self.outputs = graph.inputs, graph.outputs
        self.input_set, self.output_set = frozenset(graph.inputs), frozenset(graph.outputs)
        self.nodes: list[Node] = list(graph.nodes)
        self.types: dict[str, TensorType] = dict(graph.types)
        self.constants: dict[str, np.ndarray] = dict(graph.constants)
        self._keys: list[tuple[int, ...]] = [(i,) for i in range(len(self.nodes))]
        self._key: dict[int, tuple[int, ...]] = {id(n): k for n, k in zip(self.nodes, self._keys)}
        self._producer: dict[str, Node] = {}
        self._users: dict[str, list[Node]] = {}
        for node in self.nodes:
            self._link(node)

    def to_graph(self) -> Graph:
        return Graph(self.inputs, self.outputs, tuple(self.nodes), self.types, self.constants, self.name)

    # --- lookups -----------------------------------------------------------------------------------------------

    def producer(self, name: str) -> Node | None:
        return self._producer.get(name)

    def users(self, name: str) -> list[Node]:
        return list(self._users.get(name, ()))

    def visible_at(self, name: str, index: int) -> bool:
        """`name` is defined before node `index`: a graph input, a constant, or an output of an earlier node."""
        if name in self.input_set or name in self.constants:
            return True
        producer = self._producer.get(name)
        return producer is not None and self._key[id(producer)] < self._keys[index]

    def _index(self, node: Node) -> int:
        i = bisect_left(self._keys, self._key[id(node)])
        assert self.nodes[i] is node, "position keys out of step with the node list"
        return i

    # --- edits -------------------------------------------------------------------------------------------------

    def _link(self, node: Node) -> None:
        for o in node.outputs:
            self._producer[o] = node
        for i in node.inputs:
            insort(self._users.setdefault(i, []), node, key=self._node_key)

    def _unlink(self, node: Node) -> None:
        for o in node.outputs:
            if self._producer.get(o) is node:
                del self._producer[o]
        for i in set(node.inputs):
            self._users[i] = [u for u in self._users[i] if u is not node]

    def _node_key(self, node: Node) -> tuple[int, ...]:
        return self._key[id(node)]

    def splice(self, index: int, new_nodes: Sequence[Node]) -> None:
        """Node `index` becomes `new_nodes`, in order, at its place."""
        old, key = self.nodes[index], self._keys[index]
        self._unlink(old)
        del self._key[id(old)]
        keys = [key + (j,) for j in range(len(new_nodes))]
        self.nodes[index:index + 1] = new_nodes
        self._keys[index:index + 1] = keys
        for node, k in zip(new_nodes, keys):
            self._key[id(node)] = k
            self._link(node)

    def rename(self, renames: Mapping[str, str]) -> None:
        """Every node that defines or reads a renamed value, rewritten to the new names (at its place)."""
        touched = {id(n): n for name in renames
                   for n in [self._producer.get(name), *self._users.get(name, ())] if n is not None}
        for node in touched.values():
            new = renamed_node(node, renames)
            if new is node:
                continue
            index = self._index(node)
            self._unlink(node)
            self._key[id(new)] = self._key.pop(id(node))
            self.nodes[index] = new
            self._link(new)
