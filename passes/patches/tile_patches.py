"""Patch-based inference (MCUNetV2): run the memory-heavy first stage of a CNN one spatial tile at a time.

Pre: a well-formed graph; `split` is in `split_points(graph)`; 1 <= grid <= the split value's H x W.
Post: the same values bit for bit; the split's stage runs once per tile of an even grid; tiles cover it exactly once.

In detail: the split value's stage (its producer and every ancestor node) is replaced, for each tile of an even
rows x cols grid over the split value, by SLICEs of the stage inputs and copies of the stage nodes that compute just
that tile's receptive field; CONCATs (per tile row along W, then the rows along H) assemble the tiles into the split
value under its own name. Every other node, the graph inputs, outputs and constants are unchanged.

In a mobile CNN the first blocks hold activations an order of magnitude larger than the rest (MCUNetV2, Lin et
al., NeurIPS 2021, arXiv:2110.15352); run per tile, that stage only ever holds one tile's working set, plus the
split value the tiles are assembled into. Overlapping receptive fields (halos) are computed once per tile that
needs them: the recomputation `choose_patches` weighs against the memory saved.

A *stage* is a DAG prefix of the graph: every node in it is spatially local (WINDOWED or POINTWISE below), reads
only graph inputs, constants and stage values, and no stage value but the split value is read outside the stage or
is a graph output. `split_points` lists every value that closes such a stage.

Halo math, per spatial axis (H and W are independent). Output index i of a windowed op (CONV2D, pools, PAD) reads
the input taps i*stride - lo + j*dilation, 0 <= j < kernel, where lo is the padding before the axis; a tap outside
[0, size) reads padding. Output rows [a, b) therefore read the span [a*stride - lo, (b-1)*stride - lo +
(kernel-1)*dilation + 1). Clipped to [0, size), what remains outside is exactly the padding the whole-tensor op
reads at a true image border; inside the image the halo is real data. A copy of the op on the clipped rows, with
padding (clipped start - span start, span end - clipped end), has (len + pads - (kernel-1)*dilation - 1) // stride
+ 1 = b - a outputs, and its output r reads the same taps, data or padding, as the whole op's output a + r: the
same per-pixel arithmetic, so the same bits, in every dtype. Pointwise ops read the same rows they write.

Why pools stay exact: MAX_POOL2D padding never wins (-inf, or an integer dtype's minimum), so a ceil_mode pool becomes
a floor-mode copy whose padding covers the windows that ran past the declared padding; AVG_POOL2D divides a window by
its taps counted as the whole op counts them (count_include_pad: the kernel size, since every floor-mode window
lies inside the padded extent; otherwise the in-image taps, the same in the copy), and an AVG_POOL2D whose
ceil_mode adds windows is not patchable. An output row whose window reads only padding (padding at least a window
wide) cannot be computed from an empty input: the tile's span of that op grows toward the image until it reads a
row, and a SLICE drops the extra output rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from edgelower.ir.graph import Graph, Node, Op, TensorType
from edgelower.ir.ops import complete_attrs, infer_types, pool_out
from edgelower.ir.traits import ops_where, traits

Span = tuple[int, int]      # [start, stop) along one spatial axis
Region = tuple[Span, Span]  # (rows, cols) of an NCHW value

# Spatially local ops. WINDOWED: output pixel (h, w) reads a bounded window of input 0 (the other inputs are
# weights). POINTWISE: output pixel (h, w) reads input pixel (h, w) of every spatial input (constants broadcast
# over H and W). CHANNEL_AXIS ops are pointwise when their axis is the batch or the channel axis.
# (All three sets come from the op traits, edgelower.ir.traits.)
WINDOWED = ops_where(windowed=True)
POINTWISE = ops_where(pointwise=True)
CHANNEL_AXIS = ops_where(axis_local=True)


class PatchError(ValueError):
    """The graph cannot be patched at this split point or with this grid; the message says why."""


@dataclass(frozen=True)
class Window:
    """One spatial axis of a windowed op: output i reads taps i*stride - lo + j*dilation, 0 <= j < kernel."""

    kernel: int
    stride: int
    dilation: int
    lo: int

    def reads(self, out: Span) -> Span:
        """The taps output rows [a, b) read, before clipping to the input."""
        a, b = out
        return a * self.stride - self.lo, (b - 1) * self.stride - self.lo + (self.kernel - 1) * self.dilation + 1


def windows(node: Node, types) -> tuple[Window, Window]:
    """The (H, W) windows of a WINDOWED node."""
    attrs = complete_attrs(node.op, node.attrs)
    if node.op is Op.PAD:
        (top, _), (left, _) = attrs["pads"][2:]
        return Window(1, 1, 1, top), Window(1, 1, 1, left)
    kh, kw = types[node.inputs[1]].shape[2:] if node.op is Op.CONV2D else attrs["kernel"]
    (sh, sw), (pt, pl, _, _) = attrs["stride"], attrs["padding"]
    dh, dw = attrs.get("dilation", (1, 1))
    return Window(kh, sh, dh, pt), Window(kw, sw, dw, pl)


def _is_pointwise(node: Node) -> bool:
    return node.op in POINTWISE or (node.op in CHANNEL_AXIS and complete_attrs(node.op, node.attrs)["axis"] in (0, 1))


def _ceil_adds_windows(node: Node, types) -> bool:
    attrs = complete_attrs(node.op, node.attrs)
    h, w = types[node.inputs[0]].shape[2:]
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = attrs["kernel"], attrs["stride"], attrs["padding"]
    return attrs["ceil_mode"] and any(pool_out(n, k, s, lo, hi, 1, True) != pool_out(n, k, s, lo, hi, 1, False)
                                      for n, k, s, lo, hi in ((h, kh, sh, pt, pb), (w, kw, sw, pl, pr)))


def patchable(node: Node, graph: Graph) -> bool:
    """Whether `node` may be part of a stage: spatially local, one 4-d output, spatial operands 4-d values."""
    types = graph.types
    if len(node.outputs) != 1 or len(types[node.output].shape) != 4:
        return False
    windowed = node.op in WINDOWED
    if not windowed and not _is_pointwise(node):
        return False
    if node.op is Op.AVG_POOL2D and _ceil_adds_windows(node, types):
        return False
    out_hw = types[node.output].shape[2:]
    for pos, x in enumerate(node.inputs):
        shape, parameter = types[x].shape, pos in traits(node.op).parameters
        if x in graph.constants:
            # A constant operand is used whole by every tile: weights, or values broadcast over H and W.
            if not parameter and (windowed or any(d != 1 for d in shape[-2:])):
                return False
        elif parameter or len(shape) != 4 or (not windowed and shape[2:] != out_hw):
            return False
    return True


def split_stages(graph: Graph) -> dict[str, frozenset[int]]:
    """Every split point -> the indices of its stage's nodes, in graph order."""
    derived: dict[str, frozenset[int]] = {}  # values whose every ancestor node is patchable
    inputs = set(graph.inputs)
    for i, node in enumerate(graph.nodes):
        if not patchable(node, graph):
            continue
        stage: set[int] = {i}
        for x in node.inputs:
            if x in derived:
                stage |= derived[x]
            elif x not in graph.constants and x not in inputs:
                break
        else:
            derived[node.output] = frozenset(stage)
    index = {id(node): i for i, node in enumerate(graph.nodes)}
    users, outputs = graph.users(), set(graph.outputs)
    splits = {}
    for value, stage in derived.items():
        inner = {o for i in stage for o in graph.nodes[i].outputs} - {value}
        if all(o not in outputs and all(index[id(u)] in stage for u in users[o]) for o in inner):
            splits[value] = stage
    return splits


def split_points(graph: Graph) -> list[str]:
    """The values `tile_patches` can split at, in graph order."""
    return list(split_stages(graph))


def even_spans(size: int, parts: int) -> list[Span]:
    """`parts` consecutive spans covering [0, size), their lengths differing by at most one."""
    return [(size * i // parts, size * (i + 1) // parts) for i in range(parts)]


def tile_regions(hw: tuple[int, int], grid: tuple[int, int]) -> list[list[Region]]:
    """The grid's tiles, row by row: they cover the H x W plane exactly once."""
    (h, w), (gh, gw) = hw, grid
    if not (1 <= gh <= h and 1 <= gw <= w):
        raise PatchError(f"grid {gh}x{gw} does not fit a {h}x{w} plane: each tile needs at least one pixel")
    return [[(rows, cols) for cols in even_spans(w, gw)] for rows in even_spans(h, gh)]


def _union(a: Region, b: Region) -> Region:
    return tuple((min(x[0], y[0]), max(x[1], y[1])) for x, y in zip(a, b))


def _grow(window: Window, out: Span, size: int, out_size: int, node: Node) -> Span:
    """The smallest span around `out` whose windows read at least one input row (see the module docstring)."""
    a, b = out
    while True:
        start, stop = window.reads((a, b))
        if stop > 0 and start < size:
            return a, b
        a, b = (a, b + 1) if stop <= 0 else (a - 1, b)
        if a < 0 or b > out_size:
            raise PatchError(f"node {node.name} ({node.op.name}) reads no input row at all")


@dataclass(frozen=True)
class Field:
    """The receptive field of one tile: the region each stage node computes and each value must provide."""

    compute: dict[int, Region]   # stage node index -> output region it computes (the tile's needs, maybe grown)
    need: dict[str, Region]      # value -> the union of what its readers in the stage need


def _reads(node: Node, region: Region, graph: Graph) -> list[tuple[str, Region, tuple[Span, Span]]]:
    """(input, input region read, (H pads, W pads) of the copy) for each spatial input of a node computing
    `region`. Pointwise nodes read their own region of every non-constant input and need no padding."""
    if node.op not in WINDOWED:
        return [(x, region, ((0, 0), (0, 0))) for x in node.inputs if x not in graph.constants]
    spans, pads = [], []
    for window, span, size in zip(windows(node, graph.types), region, graph.types[node.inputs[0]].shape[2:]):
        start, stop = window.reads(span)
        clipped = (max(start, 0), min(stop, size))
        spans.append(clipped)
        pads.append((clipped[0] - start, stop - clipped[1]))
    return [(node.inputs[0], tuple(spans), tuple(pads))]


def receptive_field(graph: Graph, stage: list[int], split: str, tile: Region) -> Field:
    """Walk the stage backwards from the tile: every node computes what its readers need (grown where its
    windows would read only padding), and needs of its inputs what that region reads."""
    types = graph.types
    need: dict[str, Region] = {split: tile}
    compute: dict[int, Region] = {}
    for i in reversed(stage):
        node = graph.nodes[i]
        region = need[node.output]
        if node.op in WINDOWED:
            shape_in, shape_out = types[node.inputs[0]].shape[2:], types[node.output].shape[2:]
            region = tuple(_grow(w, span, size, out, node)
                           for w, span, size, out in zip(windows(node, types), region, shape_in, shape_out))
        compute[i] = region
        for x, read, _ in _reads(node, region, graph):
            need[x] = _union(need[x], read) if x in need else read
    return Field(compute, need)


class _Emitter:
    """Appends nodes with fresh value names and remembers their types."""

    def __init__(self, graph: Graph):
        self.graph, self.nodes, self.types = graph, [], {}
        self.taken = set(graph.types)

    def type(self, name: str) -> TensorType:
        return self.types[name] if name in self.types else self.graph.types[name]

    def add(self, op: Op, inputs: list[str], attrs, like: TensorType, hw: Span, out: str | None, hint: str,
            source: str = "") -> str:
        """A node whose output is `like` (dtype, quantization) with spatial size `hw`, checked against type
        inference: a mismatch would be a bug in the halo arithmetic, never a property of the model."""
        ttype = replace(like, shape=like.shape[:2] + tuple(hw))
        inferred = infer_types(op, [self.type(i) for i in inputs], dict(attrs))[0]
        if inferred.shape != ttype.shape:
            raise AssertionError(f"tile_patches: {op.name} on {inputs} gives {inferred.shape}, not {ttype.shape}")
        name = out
        if name is None:
            name, n = hint, 0
            while name in self.taken:
                n += 1
                name = f"{hint}_{n}"
        self.taken.add(name)
        self.types[name] = ttype
        self.nodes.append(Node(op, tuple(inputs), (name,), attrs, name=name, source=source))
        return name

    def concat(self, parts: list[str], axis: int, out: str | None, hint: str) -> str:
        t = self.type(parts[0])
        hw = tuple(sum(self.type(p).shape[a] for p in parts) if a == axis else t.shape[a] for a in (2, 3))
        return self.add(Op.CONCAT, parts, {"axis": axis}, t, hw, out, hint)

    def crop(self, x: str, have: Region, want: Region, out: str | None, hint: str) -> str:
        """x, which holds region `have`, cut down to `want` (inside it) by SLICEs; `out` names the result."""
        cuts = [(axis, w[0] - h[0], w[1] - h[0]) for axis, h, w in zip((2, 3), have, want) if h != w]
        for k, (axis, start, end) in enumerate(cuts):
            t = self.type(x)
            hw = tuple(end - start if a == axis else t.shape[a] for a in (2, 3))
            x = self.add(Op.SLICE, [x], {"axis": axis, "start": start, "end": end, "step": 1}, t, hw,
                         out if k == len(cuts) - 1 else None, f"{hint}_{'hw'[axis - 2]}")
        return x


def _copy_attrs(node: Node, pads: tuple[Span, Span]) -> dict:
    """The node's attributes with the padding of a copy that pads only at true image borders."""
    (top, bottom), (left, right) = pads
    if node.op is Op.PAD:
        batch, channel = node.attrs["pads"][:2]
        return {**node.attrs, "pads": (batch, channel, (top, bottom), (left, right))}
    attrs = {**node.attrs, "padding": (top, left, bottom, right)}
    if node.op in (Op.MAX_POOL2D, Op.AVG_POOL2D):
        attrs["ceil_mode"] = False  # the copy's padding covers every window (see the module docstring)
    return attrs


def _size(region: Region) -> tuple[int, int]:
    return tuple(stop - start for start, stop in region)


def _emit_tile(e: _Emitter, graph: Graph, stage: list[int], split: str, tile: Region, tag: str,
               out: str | None) -> str:
    """One tile's program: slices of the stage inputs, the stage's copies, a final crop. Returns its value."""
    field = receptive_field(graph, stage, split, tile)
    have: dict[str, tuple[str, Region]] = {}
    for x in graph.inputs:
        if x in field.need:
            full = tuple((0, d) for d in graph.types[x].shape[2:])
            have[x] = (e.crop(x, full, field.need[x], None, f"{x}_{tag}"), field.need[x])
    producer = stage[-1]
    crops: dict[tuple[str, Region], str] = {}
    for i in stage:
        node, region = graph.nodes[i], field.compute[i]
        reads = {x: (read, pads) for x, read, pads in _reads(node, region, graph)}
        inputs = []
        for x in node.inputs:
            if x not in reads:
                inputs.append(x)
                continue
            name, got = have[x]
            key = (x, reads[x][0])
            if key not in crops:
                crops[key] = name if got == reads[x][0] else e.crop(name, got, reads[x][0], None, f"{name}_crop")
            inputs.append(crops[key])
        attrs = _copy_attrs(node, reads[node.inputs[0]][1]) if node.op in WINDOWED else dict(node.attrs)
        named = out if i == producer and region == tile else None
        value = e.add(node.op, inputs, attrs, graph.types[node.output], _size(region), named,
                      f"{node.output}_{tag}", node.source)
        have[node.output] = (value, region)
    name, got = have[split]
    return name if got == tile else e.crop(name, got, tile, out, f"{split}_{tag}")


def tile_patches(graph: Graph, split: str, grid: tuple[int, int]) -> Graph:
    """The graph with the stage that ends at `split` run tile by tile over a `grid` = (rows, cols) of tiles."""
    stages = split_stages(graph)
    if split not in stages:
        valid = ", ".join(f"%{v}" for v in list(stages)[:8]) or "none"
        raise PatchError(f"%{split} is not a split point: it must close a stage of spatially local ops that only "
                         f"it leaves (split points of {graph.name}: {valid}{', ...' if len(stages) > 8 else ''})")
    stage = sorted(stages[split])
    gh, gw = grid
    tiles = tile_regions(graph.types[split].shape[2:], grid)
    e = _Emitter(graph)
    rows = []
    for r, row in enumerate(tiles):
        parts = [_emit_tile(e, graph, stage, split, tile, f"p{r}_{c}", split if (gh, gw) == (1, 1) else None)
                 for c, tile in enumerate(row)]
        rows.append(parts[0] if gw == 1 else e.concat(parts, 3, split if gh == 1 else None, f"{split}_row{r}"))
    if gh > 1:
        e.concat(rows, 2, split, split)
    # Stage values other than the split are read only inside the stage, so nothing else moves: the tiles' program
    # takes the split producer's place, after every node outside the stage that came before it.
    inside = set(stage)
    nodes = []
    for i, node in enumerate(graph.nodes):
        if i == stage[-1]:
            nodes.extend(e.nodes)
        elif i not in inside:
            nodes.append(node)
    gone = {o for i in stage for o in graph.nodes[i].outputs} - {split}
    new_types = {k: t for k, t in graph.types.items() if k not in gone}
    new_types.update(e.types)
    return graph.replace(nodes=tuple(nodes), types=new_types)
