"""edgelower: lower PyTorch models to the edge.

    cm = edgelower.compile(model, example_inputs, target="host")
    y = cm(x); print(cm.report); cm.save("out/"); cm = edgelower.load("out/")
"""

from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "compile": ("edgelower.driver", "compile"),
    "load": ("edgelower.compiled", "load"),
    "CompiledModel": ("edgelower.compiled", "CompiledModel"),
    "Report": ("edgelower.report", "Report"),
    "UnsupportedOpError": ("edgelower.errors", "UnsupportedOpError"),
    "zoo": ("edgelower.zoo", None),
    "TARGETS": ("edgelower.targets", "TARGETS"),
}


def __getattr__(name):
    # Lazy so that `import edgelower` stays cheap and does not import torch until a front door is used.
    if name not in _LAZY:
        raise AttributeError(f"module 'edgelower' has no attribute {name!r}")
    module, attr = _LAZY[name]
    mod = import_module(module)
    return mod if attr is None else getattr(mod, attr)


__all__ = list(_LAZY)
