"""CPU and memory of a server's whole process tree, read from /proc.

Contracts:
- ``tree(roots)`` is the living ``roots`` plus all their living descendants
  (a server may be several roots: thumbor's two processes and nginx).
- ``cpu_ticks(pids)`` maps pid -> utime+stime+cutime+cstime in clock ticks.
  The child times matter: a worker that reaps short-lived helpers (thumbor's
  gifsicle) owns their CPU only through cutime/cstime, and a helper that
  exits mid-run moves its time into its parent's, so summing all four over
  the tree before and after a run counts every process exactly once.
- ``machine_busy_ms()`` is the whole machine's non-idle CPU time.
- ``memory_kib(pids)`` is the summed RSS and PSS of ``pids`` now.
- ``MemorySampler`` polls the tree's memory in a thread (RSS every 100 ms,
  PSS from /proc/PID/smaps_rollup every 500 ms) and keeps the peaks of the
  summed RSS and PSS.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name may contain spaces or parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2:].split()


def tree(roots: Iterable[int]) -> list[int]:
    """The living ``roots`` and their living descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [r for r in roots if _stat_fields(r) is not None]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_ticks(pids: list[int]) -> dict[int, int]:
    """pid -> utime+stime+cutime+cstime (fields 14-17 of /proc/PID/stat)."""
    out = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields:
            # fields[0] is field 3 (state), so field N is fields[N - 3].
            out[pid] = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return out


def tree_cpu_ms(roots: Iterable[int]) -> tuple[float, dict[int, int]]:
    """(total CPU ms of the tree, per-pid ticks) at this instant."""
    ticks = cpu_ticks(tree(roots))
    return sum(ticks.values()) * 1000.0 / TICKS_PER_S, ticks


def machine_busy_ms() -> float:
    """Machine-wide non-idle CPU ms since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # Steal is time the hypervisor gave to someone else: not load on this box.
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) * 1000.0 / TICKS_PER_S


def _rollup_kib(pid: int) -> tuple[int, int]:
    """(Rss, Pss) in KiB from smaps_rollup, (0, 0) if the process is gone."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return rss, pss


def memory_kib(pids: Iterable[int]) -> tuple[int, int]:
    """(RSS, PSS) in KiB summed over ``pids`` from smaps_rollup; a process that is gone counts 0."""
    rollups = [_rollup_kib(pid) for pid in pids]
    return sum(r for r, _ in rollups), sum(p for _, p in rollups)


def _statm_rss_kib(pid: int) -> int:
    """Rss in KiB from /proc/PID/statm: a counter read, far cheaper than a rollup."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KIB
    except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
        return 0


class MemorySampler:
    """Context manager tracking peak summed RSS/PSS of the ``roots``' tree.

    RSS is read every ``interval`` s from statm, PSS every ``pss_every``-th
    time from smaps_rollup: a rollup walks the page tables, and four of them
    every 100 ms cost 8% of a core here, taken from the servers measured.
    """

    def __init__(self, roots: Iterable[int], interval: float = 0.1, pss_every: int = 5):
        self.roots, self.interval, self.pss_every = list(roots), interval, pss_every
        self.peak_rss_kib = self.peak_pss_kib = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        pids: list[int] = []
        while True:
            # Re-walking all of /proc costs more than the reads themselves,
            # so the tree is refreshed once a second (new workers are rare).
            if self.samples % 10 == 0:
                pids = tree(self.roots)
            if self.samples % self.pss_every == 0:
                rss, pss = memory_kib(pids)
                self.peak_rss_kib, self.peak_pss_kib = max(self.peak_rss_kib, rss), max(self.peak_pss_kib, pss)
            else:
                self.peak_rss_kib = max(self.peak_rss_kib, sum(_statm_rss_kib(pid) for pid in pids))
            self.samples += 1
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
