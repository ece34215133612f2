"""IREE's Python packages, imported where they are needed and nowhere else: `import edgelower` never loads them.
A missing package is a TargetError that names the extra to install."""

from __future__ import annotations

from edgelower.errors import TargetError

from edgelower.backends.mlir.settings import EXTRA


def require_compiler():
    """`iree.compiler` (with the upstream MLIR bindings as `.ir`), or a TargetError naming the extra."""
    try:
        import iree.compiler
        from iree.compiler import ir  # noqa: F401  (the upstream MLIR bindings, as iree.compiler.ir)
    except ImportError as e:
        raise TargetError(f"MLIR export and the IREE targets need IREE's compiler, which is not installed ({e}): "
                          f"{EXTRA}") from e
    return iree.compiler


def require_runtime():
    """`iree.runtime`, or a TargetError naming the extra."""
    try:
        import iree.runtime
    except ImportError as e:
        raise TargetError(f"running an IREE target needs IREE's runtime, which is not installed ({e}): {EXTRA}") from e
    return iree.runtime
