"""docs/ops.md is what `edgelower.op_docs` renders from the ATen table and the backends' registries."""

from __future__ import annotations

from pathlib import Path

from edgelower.frontend.capture import supported_aten_ops
from edgelower.op_docs import aten_sections, render

PAGE = Path(__file__).resolve().parents[1] / "docs" / "ops.md"


def test_the_ops_page_is_current():
    assert PAGE.read_text() == render(), "docs/ops.md is stale: python -m edgelower.op_docs > docs/ops.md"


def test_the_page_lists_every_supported_overload_once():
    listed = [name for names in aten_sections().values() for name in names]
    assert sorted(listed) == supported_aten_ops()
