"""What a backend's kernels let the memory plan share, declared by the backend and read by the memory passes.

`MemoryFeatures` is the contract between a Schedule-rendering backend and `reorder_nodes`, `alias_buffers` and
`plan_memory`: whether outputs may be views of their inputs' bytes, which kernels may write their output over an
input (and with what scratch), and the alignment of every storage in the arena. The passes hold no backend's
knowledge; `READ_BEFORE_WRITE` is the contract most kernel libraries meet, and a backend extends it with its own
kernels (the C backend adds TinyEngine-style in-place depthwise convolution, backends/c/__init__.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from edgelower.ir.graph import Node, Op, TensorType
from edgelower.ir.traits import Family, TRAITS
from edgelower.passes.memory.plan_memory import DEFAULT_ALIGNMENT


@dataclass(frozen=True)
class InPlace:
    """A kernel that may write its output over one of the inputs at `positions` (one of the output's type), when
    `applies` to the node; `scratch` gives the work space it needs then, or None."""

    positions: tuple[int, ...]
    applies: Callable[[Node, Mapping[str, TensorType]], bool] = lambda node, types: True
    scratch: Callable[[Node, Mapping[str, TensorType]], "TensorType | None"] = lambda node, types: None


@dataclass(frozen=True)
class MemoryFeatures:
    """views: a view kernel's output may be its input's bytes at an offset; in_place: op -> how its kernel may
    overwrite an input; alignment: bytes every storage's offset is a multiple of."""

    views: bool = True
    in_place: Mapping[Op, InPlace] = field(default_factory=dict)
    alignment: int = DEFAULT_ALIGNMENT


def _element_for_element(op: Op) -> InPlace | None:
    """Kernels that read element i of every input before writing element i of the output may run over any input:
    elementwise ops. Normalizations read a whole row before writing it, so they may run over their input 0."""
    t = TRAITS[op]
    if t.family is Family.ELEMENTWISE and t.pointwise:
        return InPlace(tuple(range(2)))
    if t.family is Family.NORMALIZATION:
        return InPlace((0,))
    return None


READ_BEFORE_WRITE = MemoryFeatures(in_place={op: rule for op in Op if (rule := _element_for_element(op))})
NO_SHARING = MemoryFeatures(views=False, in_place={})
