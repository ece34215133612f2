"""Op traits are decided for every op, the sets passes use are derived from them, and every registered backend
either renders each op or refuses it by name before anything is written."""

from __future__ import annotations

import dataclasses

import pytest

from edgelower.backends import BACKENDS
from edgelower.errors import BackendUnsupportedError
from edgelower.ir.graph import GraphBuilder, Op, TensorType
from edgelower.ir.traits import TRAITS, IntegerForm, OpTraits, ops_where, traits
from edgelower.ir.views import VIEWS
from edgelower.passes import PIPELINES, run_pipeline
from edgelower.passes.integer.lower_integer import INTEGER_FORMS, LowerIntegerOptions
from edgelower.passes.integer.lower_selections import SELECTIONS
from edgelower.passes.integer.quantize import QuantizeOptions
from edgelower.passes.patches import tile_patches

from families import FAMILIES, INT8_FAMILIES, family, int8_family


def test_every_op_has_every_trait_decided():
    assert set(TRAITS) == set(Op)
    fields = {f.name for f in dataclasses.fields(OpTraits)}
    for op, t in TRAITS.items():
        assert {f for f in fields if getattr(t, f) is None} == set(), op


def test_integer_forms_are_the_ops_lower_integer_lowers():
    """An op has an integer form exactly when lower_integer has a lowering for it (at a QUANTIZE, or for the ops
    whose result is not quantized, SELECTIONS); DIV is only lowered as the fold of a constant positive scale into a
    requantization or as a reciprocal's table, and REQUANTIZE and LOOKUP are themselves integer forms."""
    with_form = {op for op in Op if traits(op).integer is not IntegerForm.NONE}
    assert with_form ^ (set(INTEGER_FORMS) | set(SELECTIONS)) == {Op.DIV, Op.REQUANTIZE, Op.LOOKUP}


def test_the_primitive_ops_are_a_trait():
    from edgelower.ir.ops import PRIMITIVE_INTEGER_OPS

    assert PRIMITIVE_INTEGER_OPS == ops_where(primitive=True)
    assert Op.REQUANTIZE not in PRIMITIVE_INTEGER_OPS and Op.CAST in PRIMITIVE_INTEGER_OPS


def test_pass_sets_derive_from_traits():
    assert tile_patches.POINTWISE == ops_where(pointwise=True)
    assert tile_patches.WINDOWED == ops_where(windowed=True)
    assert set(VIEWS) == ops_where(view=True)
    assert all(traits(op).pointwise for op in ops_where(fusable_activation=True))


def graphs_holding_every_op():
    """The float op families, and the int8 families lowered to primitive integer ops: every op in some node."""
    for name in FAMILIES:
        yield family(name)[0]
    for name in INT8_FAMILIES:
        graph, inputs = int8_family(name)
        options = (QuantizeOptions((tuple(inputs),)), LowerIntegerOptions())
        yield run_pipeline(graph, PIPELINES["int8-primitives"], options=options)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_every_backend_renders_or_refuses_each_op_by_name(backend):
    b = BACKENDS[backend]
    seen = set()
    for graph in graphs_holding_every_op():
        for node in graph.nodes:
            seen.add(node.op)
            why = b.unsupported(node, graph.types)
            assert why is None or (isinstance(why, str) and why), (backend, node.op)
    assert seen == set(Op)


def test_a_refused_op_is_named_with_its_node_and_source_before_anything_is_written():
    b = GraphBuilder("g")
    x = b.input("x", TensorType((4,)))
    y = b.op(Op.RELU, [x], hint="act", source="model.py:12")
    b.output(y)
    graph = b.build()
    refusing = dataclasses.replace(BACKENDS["c"], unsupported=lambda node, types: "not in this backend")
    with pytest.raises(BackendUnsupportedError, match=r"RELU: not in this backend \(node act\)\s+at model.py:12"):
        refusing.check(graph, "host")
