"""What capture says when a model is not one static graph, and the noise it keeps from the user: torch.export's
partial graph dumps, torch's own log lines. Each message names the cause, the user's line and what to do."""

from __future__ import annotations

import contextlib
import io
import logging
import sys

import torch
from torch.fx.experimental.symbolic_shapes import free_unbacked_symbols

from edgelower.errors import CaptureError


@contextlib.contextmanager
def without_partial_graph_dumps():
    """torch.export prints the partial graph of a failed export to stderr (twice, from two nested wrappers) before
    raising; our CaptureError says what failed and where, so the dumps are dropped and anything else printed is
    passed on. torch's "Unable to find user code" log line is dropped with them."""
    buffer = io.StringIO()
    quiet = logging.Filter()
    quiet.filter = lambda record: "Unable to find user code" not in str(record.msg)
    shapes_log = logging.getLogger("torch.fx.experimental.symbolic_shapes")
    shapes_log.addFilter(quiet)
    try:
        with contextlib.redirect_stderr(buffer):
            yield
    except Exception as e:
        text = buffer.getvalue()
        dump = getattr(e, "partial_fx_graph", None)
        sys.stderr.write(text.replace(f"{dump}\n", "") if dump is not None else text)
        raise
    else:
        sys.stderr.write(buffer.getvalue())
    finally:
        shapes_log.removeFilter(quiet)


def raise_if_eager_fails(model: torch.nn.Module, example_inputs: tuple, export_error: Exception) -> None:
    """When torch.export failed, a CaptureError if the model fails in eager PyTorch too: then the example inputs
    (a wrong shape, rank or dtype) are at fault, not the capture, and torch's own message says why."""
    try:
        with torch.no_grad():
            model(*example_inputs)
    except Exception as e:
        shapes = ", ".join(f"{str(x.dtype).removeprefix('torch.')}{list(x.shape)}" for x in example_inputs)
        cause = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CaptureError(f"the model fails on its example inputs ({shapes}) in PyTorch itself: {cause}. Give "
                           "example inputs (CLI: --input-shape) of the shape and dtype forward() expects.") \
            from export_error


def explain_dynamic_node(node: torch.fx.Node, where: str) -> str:
    """Why a node with a symbolic shape cannot be compiled (`where`: its source line): a size that depends on
    tensor values (an unbacked symbol: boolean masks, nonzero, unique) or one left symbolic by the capture
    (dynamic input shapes)."""
    at = f" at {where}" if where else ""
    vals = node.meta.get("val")
    vals = vals if isinstance(vals, (tuple, list)) else [vals]
    shapes = ", ".join(str(list(v.shape)) if isinstance(v, torch.Tensor) else str(v) for v in vals)
    if any(free_unbacked_symbols(v) for v in vals if isinstance(v, (torch.Tensor, torch.SymInt))):
        return (f"node {node.name} has a data-dependent shape ({shapes}){at}: its size depends on tensor values "
                "(a boolean mask such as x[x > 0], nonzero, unique). edgelower compiles static shapes: compute on "
                "whole tensors instead (e.g. torch.relu(x).sum() rather than x[x > 0].sum()).")
    return (f"node {node.name} has a dynamic shape ({shapes}){at}. edgelower compiles static shapes: capture with "
            "concrete example inputs (torch.compile(..., dynamic=False)) and no dynamic_shapes.")
