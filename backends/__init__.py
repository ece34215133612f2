"""Backends: renderers from a Schedule to source files, and BACKENDS, the registry."""
