"""A progress bar on stderr for long runs: a redrawn bar on a terminal, a line per workload
otherwise (CI logs stay readable)."""
from __future__ import annotations

import sys
import time


def _dur(s: float) -> str:
    s = int(s)
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class Progress:
    def __init__(self, total: int, stream=None, enabled: bool | None = None, width: int = 28):
        self.total, self.done, self.width = max(total, 1), 0, width
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if enabled is None else enabled
        self.start = time.monotonic()
        self._last_group = None

    def eta(self) -> float | None:
        if not self.done:
            return None
        el = time.monotonic() - self.start
        return el / self.done * (self.total - self.done)

    def line(self, label: str) -> str:
        frac = min(self.done / self.total, 1.0)
        fill = int(frac * self.width)
        eta = self.eta()
        return (f"[{'#' * fill}{'.' * (self.width - fill)}] {self.done}/{self.total} "
                f"{frac:4.0%} eta {_dur(eta) if eta is not None else '?'}  {label}")

    def advance(self, label: str = "", n: int = 1, group: str | None = None) -> None:
        self.done += n
        if self.tty:
            self.stream.write("\r\x1b[2K" + self.line(label)[:120])
            self.stream.flush()
        elif group is not None and group != self._last_group:
            self._last_group = group
            self.stream.write(f"bench: [{self.done}/{self.total}] {group} "
                              f"(elapsed {_dur(time.monotonic() - self.start)})\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K")
        self.stream.write(f"bench: {self.done} runs in {_dur(time.monotonic() - self.start)}\n")
        self.stream.flush()
