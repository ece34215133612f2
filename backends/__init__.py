"""Backends: renderers from a Schedule to source files, and BACKENDS, the registry."""

from typing import Callable

from edgelower.ir.schedule import Schedule

from edgelower.backends.c.render import render_c

Backend = Callable[[Schedule], dict[str, str]]  # schedule -> {file name: text}; options are keyword arguments

# One explicit entry per backend, in the order targets list them.
BACKENDS: dict[str, Backend] = {
    "c": render_c,
}
