"""The reference interpreter: the definition of every op. `float_ops.IMPLS` (float and plain integer arrays),
`integer.INTEGER_IMPLS` (nodes with a `q` record), and `run` (run_graph, run_schedule on a simulated arena)."""

from edgelower.interp.float_ops import IMPLS
from edgelower.interp.integer import INTEGER_IMPLS
from edgelower.interp.run import evaluate_node, run_graph, run_schedule

__all__ = ["IMPLS", "INTEGER_IMPLS", "evaluate_node", "run_graph", "run_schedule"]
