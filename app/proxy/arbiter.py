"""gunicorn's master with TTIN and TTOU made into the two steps of a blue-green reload.

Stock gunicorn: TTIN adds one worker, TTOU ends the oldest, and both count the workers it has
already told to stop. A reload that sends them one per worker has to space them out (two sent
together may arrive as one, and an old worker would serve on), and while a worker an earlier reload
retired still drains (a long streamed answer: minutes) a TTIN forks nothing until it exits.

Here one TTIN forks a whole new generation (`num_workers` workers) beside the serving one, at once,
and one TTOU retires every worker but the newest `num_workers`. Workers already told to stop count
for neither. HUP (the supervisor's way back to the last good file) is gunicorn's own.
"""

from __future__ import annotations

import signal
from typing import Any

from gunicorn.arbiter import Arbiter


class BlueGreenArbiter(Arbiter):  # type: ignore[misc]
    def __init__(self, app: Any):
        super().__init__(app)
        self.retiring: set[int] = set()
        self.growing = False  # a new generation is loading beside the serving one

    def handle_ttin(self) -> None:
        self.growing = True
        self.manage_workers()

    def handle_ttou(self) -> None:
        self.growing = False
        self.manage_workers()

    def handle_hup(self) -> None:
        self.growing = False
        super().handle_hup()

    def manage_workers(self) -> None:
        """Fork or retire until the workers not told to stop are the wanted number."""
        self.retiring &= self.WORKERS.keys()
        wanted = self.num_workers * (2 if self.growing else 1)
        serving = sorted(
            (worker for pid, worker in self.WORKERS.items() if pid not in self.retiring),
            key=lambda worker: worker.age,
        )
        for _ in range(wanted - len(serving)):
            self.spawn_worker()
        for worker in serving[: max(len(serving) - wanted, 0)]:  # the oldest
            self.retiring.add(worker.pid)
            self.kill_worker(worker.pid, signal.SIGTERM)
