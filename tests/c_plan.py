"""The memory plan the driver makes for the C backend: its own memory features (views, in-place kernels including
the one-plane depthwise), for tests that schedule a graph by hand and render it as C."""

from edgelower.backends.c.memory import C_MEMORY
from edgelower.passes.memory.schedule_graph import MemoryOptions

C_PLAN = MemoryOptions(features=C_MEMORY)
