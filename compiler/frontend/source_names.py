"""Names a user recognises: IR values and nodes (so report rows, plots and generated C) named after the module
that computed them (`features.3.conv.1` -> `features_3_conv_1`) rather than after ATen's node names
(`_native_batch_norm_legit_no_training_5`), and source lines that name a file without the user's absolute paths.

Both front doors record the module path of every FX node in `node.meta["nn_module_stack"]` (torch.export as
`features.3.conv.1`, torch.compile as `L['self'].features.3.conv.1`). A module that computes one op gives that op
its path; one that computes several (a custom block's residual add, attention's matmuls) gives each its path and
the op (`blocks_0_add`); ops of the top-level forward() keep ATen's names (`add`). A path that starts with a
digit (the children of a top-level nn.Sequential) is prefixed with its module's class: `linear_0`.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections import Counter
from typing import Any, Iterable

_COMPILE_ROOT = re.compile(r"^L\['[^']*'\]\.?")      # torch.compile's root module, L['self']
_GETATTR = re.compile(r"getattr\(([^(),]*), '([^']*)'\)")
_SUBSCRIPT = re.compile(r"\[['\"]?([^'\"\]]*)['\"]?\]")
_NODE_NUMBER = re.compile(r"_\d+$")


def module_path(node: Any) -> str:
    """The dotted path of the innermost module that computed `node`, with its class for a leading digit;
    "" for the top-level forward()."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path, cls = list(stack.values())[-1]
    path = _COMPILE_ROOT.sub("", str(path))
    while _GETATTR.search(path):
        path = _GETATTR.sub(r"\1.\2", path)
    path = _SUBSCRIPT.sub(r".\1", path).strip(".")
    if path[:1].isdigit():
        name = cls.__name__ if isinstance(cls, type) else str(cls).rsplit(".", 1)[-1]
        path = f"{name.lower()}.{path}"
    return path


def node_hints(nodes: Iterable[Any], folded: set) -> dict[Any, str]:
    """The naming hint of each call node (FX node -> hint); nodes absent fall back to their own names. `folded`:
    nodes computed from constants alone (a Linear's weight transpose), which do not count as the module's op and
    never take its bare path."""
    paths = {node: module_path(node) for node in nodes if node.op == "call_function"}
    ops = Counter(path for node, path in paths.items() if path and node not in folded and not _is_getitem(node))
    return {node: path if ops[path] <= 1 and node not in folded else f"{path}_{_NODE_NUMBER.sub('', node.name)}"
            for node, path in paths.items() if path}


def _is_getitem(node: Any) -> bool:
    return getattr(node.target, "__name__", "") == "getitem"


def parameter_name(model: Any, target: str) -> str:
    """A parameter's or buffer's state-dict name, its module's class first when it starts with a digit (the
    parameters of a top-level nn.Sequential): `0.weight` -> `linear.0.weight`, like the ops' `linear_0`."""
    owner = target.rpartition(".")[0]
    if not target[:1].isdigit() or not owner:
        return target
    try:
        return f"{type(model.get_submodule(owner)).__name__.lower()}.{target}"
    except AttributeError:
        return target


def display_path(file: str) -> str:
    """`file` as a user reads it in a message or a generated comment: relative to the working directory when it
    is inside it, else the name of the module it holds (`torchvision.models.mobilenetv2`), else its base name.
    Never the absolute path of the machine that compiled."""
    return _display_path(file, os.getcwd())


@functools.lru_cache(maxsize=None)
def _display_path(file: str, cwd: str) -> str:
    try:
        relative = os.path.relpath(file, cwd)
    except ValueError:  # another drive
        relative = os.pardir
    if not relative.startswith(os.pardir):
        return relative
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and name != "__main__" and os.path.abspath(path) == os.path.abspath(file):
            return name
    return os.path.basename(file)
