"""Background jobs: work that takes seconds (the impact of a version on a big run) runs in a
thread; the page shows its progress and then its result. One job per (kind, arguments) at a
time: asking again while it runs shows the same job."""
from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

MAX_KEPT = 20  # finished jobs kept for their pages; the oldest go first


@dataclass
class Job:
    id: str
    key: tuple
    state: str = "running"  # running | done | failed
    rows: int = 0  # rows read so far
    fraction: float | None = None  # the share of the input read, when the reader knows it
    result: object = None
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    def to_json(self) -> dict:
        return {"id": self.id, "state": self.state, "rows": self.rows,
                "percent": None if self.fraction is None else round(self.fraction * 100),
                "error": self.error,
                "seconds": round((self.finished or time.monotonic()) - self.started, 1)}


class Jobs:
    def __init__(self):
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._ids = itertools.count(1)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def start(self, key: tuple, work: Callable[[Job], object], expected: type[Exception] = Exception) -> Job:
        """Run `work(job)` in a thread (it may update job.rows / job.fraction); an exception of
        `expected` becomes the job's error message, any other is re-raised in the thread."""
        with self._lock:
            for job in self._jobs.values():
                if job.key == key and job.state == "running":
                    return job
            job = Job(str(next(self._ids)), key)
            self._jobs[job.id] = job
            done = [j for j in self._jobs.values() if j.state != "running"]
            for old in done[:-MAX_KEPT]:
                del self._jobs[old.id]

        def run():
            try:
                job.result = work(job)
                job.state = "done"
            except expected as err:
                job.error, job.state = str(err), "failed"
            except BaseException:
                job.error, job.state = "an internal error stopped the job (a bug: please report it)", "failed"
                raise
            finally:
                job.finished = time.monotonic()

        threading.Thread(target=run, name=f"job-{job.id}", daemon=True).start()
        return job
