"""Lower a quantized float graph to the integer graph of docs/quantization.md.

Pre: a float32 graph whose tensors carry int8 quantization parameters (`quantize`, or PT2E capture).
Post: graph inputs and outputs are int8 with those parameters; every op with an integer lowering computes on int8
(int32 accumulators) with its `q` record; with `int_only` (the default) no float op or float tensor is left, else
the rest stays in float (without quantization parameters) between DEQUANTIZE and QUANTIZE; I/O names kept.

Two steps:
1. `insert_qdq` (global: it changes the interface): every quantized float value v becomes QUANTIZE(v) followed by
   DEQUANTIZE, which all of v's readers read; a quantized graph input becomes int8 followed by DEQUANTIZE; a
   quantized output is the QUANTIZE's int8 result; a quantized constant operand (not a weight or bias) becomes int8
   data followed by DEQUANTIZE. The graph still computes in float, now through the int8 grid of every value.
2. A rule table (`passes/rewrite.py`) at every QUANTIZE: when the float op X that produces its input reads only
   DEQUANTIZEd values and constants, QUANTIZE(X(DEQUANTIZE(a), ...)) becomes X's integer form on a, ..., defining
   the QUANTIZE's int8 value with its exact type. A RELU/CLAMP between X and the QUANTIZE, reading an unquantized
   result of X, is folded into X's requantization range (TFLite's fused activation). QUANTIZE(DEQUANTIZE(a)) is a
   (RE)QUANTIZE of a or nothing. Each rule is local; the lowering functions are in `lower_integer_ops` and
   `lower_transformer` (`INTEGER_FORMS`).

Numerical contract: each integer op is TFLite's int8 reference kernel with parameters computed from the
float32 scales (`edgelower.quant.records`), so the lowered graph equals the float graph on the quantization grid up to
TFLite's own rounding: a few output LSBs per op.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from edgelower.errors import IntegerLoweringError, Unsupported
from edgelower.ir.graph import DType, Graph, Node, Op, QParams, TensorType
from edgelower.ir.names import sanitize
from edgelower.passes.integer.lower_integer_ops import LOWERINGS, NoIntegerForm, Operand, Site, quantize_array
from edgelower.passes.integer.lower_selections import SELECTIONS
from edgelower.passes.integer.lower_tables import TABLE_OPS, lower_table, reciprocal_or
from edgelower.passes.integer.lower_transformer import lower_scalar_scale, scalar_scale_or
from edgelower.passes.integer.quantize import is_parameter
from edgelower.passes.rewrite import Rewrite, RewriteContext, Rule, alias, rewrite
from edgelower.quant.records import RequantQ
from edgelower.ir.traits import ops_where
from edgelower.ir.verifier import verify

FUSABLE_ACTIVATIONS = ops_where(clamps=True)

# What each op lowers with: its form in lower_integer_ops, for MUL and DIV by a positive scalar constant the fold of
# that scale into a requantization (lower_transformer: attention's 1/sqrt(d) costs no op of its own), and for the
# elementwise functions of one value a LOOKUP table (lower_tables; DIV of a constant by a tensor too).
INTEGER_FORMS = {**LOWERINGS, **{op: lower_table for op in TABLE_OPS}, Op.MUL: scalar_scale_or(LOWERINGS[Op.MUL]),
                 Op.DIV: reciprocal_or(lower_scalar_scale)}


@dataclass(frozen=True)
class LowerIntegerOptions:
    """int_only: every op must have an integer form (else IntegerLoweringError names each one); False keeps
    those ops in float between DEQUANTIZE and QUANTIZE (the target then needs float kernels, e.g. an FPU)."""

    int_only: bool = True


def _per_tensor(t: TensorType) -> QParams | None:
    q = t.qparams
    return q if q is not None and len(q.scale) == 1 and t.dtype.is_float else None


def insert_qdq(graph: Graph) -> Graph:
    """Step 1 (see the module docstring): QUANTIZE/DEQUANTIZE around every quantized float value."""
    taken = set(graph.types)

    def fresh(hint: str) -> str:
        base, n = sanitize(hint), 0
        name = base
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        return name

    types, constants = dict(graph.types), dict(graph.constants)
    reads: dict[str, str] = {}   # float value -> the DEQUANTIZEd value its readers read instead
    nodes: list[Node] = []

    def dequantize(q_name: str, qp: QParams, hint: str, source: str = "") -> str:
        f = fresh(f"{hint}_dq")
        types[f] = TensorType(types[q_name].shape)
        nodes.append(Node(Op.DEQUANTIZE, (q_name,), (f,), {"scale": qp.scale[0], "zero_point": qp.zero_point[0]},
                          source=source))
        return f

    for name in graph.inputs:
        qp = _per_tensor(graph.types[name])
        if qp is not None:
            types[name] = TensorType(graph.types[name].shape, DType.INT8, qp)
            reads[name] = dequantize(name, qp, name)
    for name, data in graph.constants.items():
        qp = _per_tensor(graph.types[name])
        if qp is None or is_parameter(graph, name):
            continue
        q_name = name if name in graph.outputs else fresh(f"{name}_q")  # an output keeps its name, now int8
        constants[q_name] = quantize_array(data, qp)
        types[q_name] = TensorType(data.shape, DType.INT8, qp)
        if any(name in n.inputs for n in graph.nodes):
            reads[name] = dequantize(q_name, qp, name)
    for node in graph.nodes:
        node = replace(node, inputs=tuple(reads.get(i, i) for i in node.inputs))
        qp = _per_tensor(graph.types[node.output]) if len(node.outputs) == 1 else None
        if qp is None:
            nodes.append(node)
            continue
        out = node.output
        float_out = fresh(f"{out}_f") if out in graph.outputs else out
        q_name = out if out in graph.outputs else fresh(f"{out}_q")
        types[float_out] = replace(graph.types[out], qparams=qp)
        nodes.append(replace(node, outputs=(float_out,)))
        types[q_name] = TensorType(graph.types[out].shape, DType.INT8, qp)
        nodes.append(Node(Op.QUANTIZE, (float_out,), (q_name,), {"scale": qp.scale[0],
                                                                 "zero_point": qp.zero_point[0]}, source=node.source))
        if out not in graph.outputs or any(out in n.inputs for n in graph.nodes):
            reads[out] = dequantize(q_name, qp, out, node.source)
    return graph.replace(nodes=tuple(nodes), types=types, constants=constants)


def _operand(ctx: RewriteContext, name: str) -> Operand | None:
    """What an integer op reads for the float input `name`: the int8 value behind a DEQUANTIZE, a constant, or
    a non-float value (indices); None for a float value without quantization (the op stays float)."""
    producer = ctx.producer(name)
    if producer is not None and producer.op is Op.DEQUANTIZE:
        q = producer.inputs[0]
        return Operand(q, ctx.type(q), ctx.constant(q))
    t = ctx.type(name)
    if ctx.constant(name) is not None or not t.dtype.is_float:
        return Operand(name, t, ctx.constant(name))
    return None


def _site(node: Node, ctx: RewriteContext) -> Site | None:
    """The float op whose result this QUANTIZE quantizes (through a fused RELU/CLAMP), with its operands."""
    op_node = ctx.producer(node.inputs[0])
    if op_node is None or op_node.op in (Op.DEQUANTIZE, Op.QUANTIZE):
        return None
    activation = None
    if op_node.op in FUSABLE_ACTIVATIONS:
        inner = ctx.producer(op_node.inputs[0])
        fused_value = op_node.inputs[0]
        if inner is not None and inner.op in INTEGER_FORMS and ctx.type(fused_value).qparams is None \
                and ctx.type(fused_value).dtype.is_float and ctx.only_user(fused_value, op_node):
            activation, op_node = op_node, inner
    operands = tuple(_operand(ctx, i) for i in op_node.inputs)
    if any(o is None for o in operands):
        return None
    return Site(op_node, node.output, ctx.type(node.output), operands, activation, ctx)


def fold_quantize_dequantize(node: Node, ctx: RewriteContext) -> Rewrite | None:
    """QUANTIZE(DEQUANTIZE(a)) -> a with the same parameters, else REQUANTIZE(a) (TFLite's int8 QUANTIZE)."""
    producer = ctx.producer(node.inputs[0])
    if producer is None or producer.op is not Op.DEQUANTIZE:
        return None
    a, out = producer.inputs[0], ctx.type(node.output)
    if ctx.type(a) == out:
        return alias(node, a)
    qa, qo = ctx.type(a).qparams, out.qparams
    q = RequantQ.from_scales(qa.scale[0], qa.zero_point[0], qo.scale[0], qo.zero_point[0])
    return Rewrite(nodes=(Node(Op.REQUANTIZE, (a,), node.outputs, {"q": q}, node.name, node.source),),
                   types={node.output: out})


def lower_at_quantize(node: Node, ctx: RewriteContext) -> Rewrite | None:
    site = _site(node, ctx)
    if site is None or site.node.op not in INTEGER_FORMS:
        return None
    try:
        return INTEGER_FORMS[site.node.op](site)
    except NoIntegerForm:
        return None


def lower_selection(node: Node, ctx: RewriteContext) -> Rewrite | None:
    """COMPARE, ARGMAX, ARGMIN of DEQUANTIZEd values: their results are not quantized, so no QUANTIZE marks them."""
    return SELECTIONS[node.op](node, ctx)


rules_lower_integer = [
    Rule("fold_quantize_dequantize", Op.QUANTIZE, fold_quantize_dequantize),
    Rule("lower_at_quantize", Op.QUANTIZE, lower_at_quantize),
    Rule("lower_selection", frozenset(SELECTIONS), lower_selection),
]


def _why_float(graph: Graph, node: Node) -> str:
    """Why `node` stayed float: no lowering for its op, an operand without int8 parameters, or the reason its
    lowering gives (asked again, at the QUANTIZE of its result or of the activation folded into it)."""
    if node.op in SELECTIONS:
        return "its operands are not int8 values of one quantization, or a constant holding one value"
    if node.op not in INTEGER_FORMS:
        return f"{node.op.name} has no integer-only lowering"
    ctx = RewriteContext(graph, set(graph.types))
    readers = ctx.users(node.output)
    if len(readers) == 1 and readers[0].op in FUSABLE_ACTIVATIONS:
        readers = ctx.users(readers[0].output)
    for q in readers:
        site = _site(q, ctx) if q.op is Op.QUANTIZE else None
        if site is not None and site.node is node:
            try:
                INTEGER_FORMS[node.op](site)
            except NoIntegerForm as e:
                return str(e)
    for i in node.inputs:
        if _operand(ctx, i) is None:
            return f"its input %{i} has no int8 parameters (not calibrated, or left in float by a PT2E quantizer)"
    return f"its result %{node.output} has no int8 parameters"


def _float_nodes(graph: Graph) -> list[Node]:
    """Nodes computing in float: a float result, or (COMPARE, ARGMAX, ...) a float operand."""
    return [n for n in graph.nodes if n.op not in (Op.QUANTIZE, Op.DEQUANTIZE)
            and any(graph.types[v].dtype.is_float and v not in graph.constants for v in n.outputs + n.inputs)]


def lower_integer(graph: Graph, options: LowerIntegerOptions = LowerIntegerOptions()) -> Graph:
    """The integer graph (see the module docstring). Raises IntegerLoweringError naming every op left in float,
    with its node and source line, when `options.int_only`."""
    lowered = rewrite(insert_qdq(graph), rules_lower_integer, name="lower_integer")
    # What stays float is plain float: its QUANTIZE / DEQUANTIZE neighbours carry the parameters.
    lowered = lowered.replace(types={name: replace(t, qparams=None) if t.dtype.is_float else t
                                     for name, t in lowered.types.items()})
    if options.int_only:
        left = [Unsupported(f"{n.op.name}: {_why_float(lowered, n)}", n.name, n.source) for n in _float_nodes(lowered)]
        left = left or [Unsupported(f"{n.op.name}: a float value is left at the integer graph's edge (an output "
                                    "that is an input?)", n.name, n.source)
                        for n in lowered.nodes if n.op in (Op.QUANTIZE, Op.DEQUANTIZE)]
        if left:
            raise IntegerLoweringError(left)
    return lowered


def check_integer(graph: Graph, options: LowerIntegerOptions = LowerIntegerOptions()) -> Graph:
    """The pipeline's integer-only check after `lower_integer`: the verifier with integer_only=options.int_only."""
    return verify(graph, after="lower_integer", integer_only=options.int_only)
