"""Passes: Graph -> Graph (or Schedule -> Schedule) functions, and PIPELINES, the ordered list per target kind."""
