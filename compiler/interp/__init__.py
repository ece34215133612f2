"""The reference interpreter: the definition of every op. `IMPLS` (float ops, `float_ops`, and the integer ops that
wrap like C, `primitives`), `integer.INTEGER_IMPLS` (nodes with a `q` record), and `run` (run_graph, run_schedule
on a simulated arena)."""

from edgelower.interp.integer import INTEGER_IMPLS
from edgelower.interp.run import IMPLS, evaluate_node, run_graph, run_schedule

__all__ = ["IMPLS", "INTEGER_IMPLS", "evaluate_node", "run_graph", "run_schedule"]
