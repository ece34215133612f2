"""The stages of one compilation and their wall-clock seconds: `Report.stage_seconds`, and the CLI's progress.

A StageClock is started at each stage with a label for people ("capture (torch.export)") and closes the stage
before: the driver never pairs starts and stops by hand, and a stage that raises leaves no half-timed entry.
"""

from __future__ import annotations

import time
from typing import Callable

STAGES = ("capture", "passes", "plan", "render", "build")


class StageClock:
    def __init__(self, on_stage: Callable[[str], None] | None = None):
        self._on_stage = on_stage or (lambda _: None)
        self.started = time.perf_counter()
        self._seconds: dict[str, float] = {}
        self._current: str | None = None
        self._since = self.started

    def start(self, stage: str, label: str | None = None) -> None:
        """Close the running stage and start `stage` (one of STAGES), telling on_stage its label."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
        self.stop()
        self._current, self._since = stage, time.perf_counter()
        self._on_stage(label or stage)

    def stop(self) -> None:
        if self._current is not None:
            spent = time.perf_counter() - self._since
            self._seconds[self._current] = self._seconds.get(self._current, 0.0) + spent
            self._current = None

    def table(self) -> tuple[tuple[str, float], ...]:
        """(stage, seconds) for the stages that ran, in pipeline order."""
        return tuple((stage, self._seconds[stage]) for stage in STAGES if stage in self._seconds)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started
