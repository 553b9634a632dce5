"""Run a command; report its wall time and the peak memory of its whole process tree.

    python3 bench/footprint.py [--interval S] [--timeline FILE] -- COMMAND [ARGS...]

``/usr/bin/time -v`` reports the largest *single* process; a test run is a tree
(pytest, moto servers, uvicorn, node, PostgreSQL clients), so this samples every
process of the command's session (it runs in a new one) and of its descendants
(a child that calls ``setsid`` stays counted through its parent) and sums their
resident memory:

* ``rss``: the sum of VmRSS, what the issue's budget is stated in (a page two
  processes share counts twice, so this over-estimates a forked tree);
* ``pss``: the sum of the proportional set sizes (``smaps_rollup``), shared pages
  split between their users: the memory the tree really needs.

At the end it prints one line per figure to stderr (peak sum, when, the largest
process at that moment, wall time) and exits with the command's status. With
``--timeline`` it also writes a CSV (seconds, rss MB, pss MB, processes, largest
process) to find what climbs. Linux only (reads ``/proc``); standard library only,
so any ``python3`` runs it, with or without the project's venv.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024


@dataclass
class Sample:
    """One look at the tree."""

    at: float
    rss: int = 0
    pss: int = 0
    processes: int = 0
    largest: tuple[int, int, str] = (0, 0, "")  # (rss, pid, command line)


@dataclass
class Peak:
    """The samples with the largest RSS and PSS sums."""

    rss: Sample | None = None
    pss: Sample | None = None
    samples: int = 0
    timeline: list[Sample] = field(default_factory=list)


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, session id) of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after it.
    fields = raw[raw.rfind(")") + 2 :].split()
    return int(fields[1]), int(fields[3])


def _memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in bytes; zeros for a process that is gone or a kernel thread."""
    rss = pss = 0
    try:
        rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    return rss, pss


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(raw.decode(errors="replace").replace("\0", " ").split())[:160] or "?"


def tree(root: int) -> list[int]:
    """``root``, every process of its session, and every descendant of those."""
    parents: dict[int, int] = {}
    members: set[int] = {root}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat is None:
            continue
        parents[int(entry.name)] = stat[0]
        if stat[1] == root:
            members.add(int(entry.name))
    grew = True
    while grew:
        before = len(members)
        members |= {pid for pid, parent in parents.items() if parent in members}
        grew = len(members) > before
    return sorted(pid for pid in members if pid in parents or pid == root)


def sample(root: int, started: float) -> Sample:
    """The summed memory of ``root``'s tree now."""
    now = Sample(at=time.monotonic() - started)
    for pid in tree(root):
        rss, pss = _memory(pid)
        if not rss:
            continue
        now.rss += rss
        now.pss += pss
        now.processes += 1
        if rss > now.largest[0]:
            now.largest = (rss, pid, _command(pid))
    return now


def watch(root: int, started: float, interval: float, peak: Peak, done: threading.Event,
          keep_timeline: bool) -> None:
    """Sample until ``done``; keep the peaks (and every sample when asked)."""
    while not done.is_set():
        now = sample(root, started)
        peak.samples += 1
        if peak.rss is None or now.rss > peak.rss.rss:
            peak.rss = now
        if peak.pss is None or now.pss > peak.pss.pss:
            peak.pss = now
        if keep_timeline:
            peak.timeline.append(now)
        done.wait(interval)


def report(peak: Peak, wall: float, status: int) -> str:
    """The summary lines."""
    lines = [f"footprint: wall {wall:.1f} s ({wall / 60:.1f} min), exit status {status}, "
             f"{peak.samples} samples"]
    if peak.rss is not None:
        big_rss, big_pid, big_cmd = peak.rss.largest
        lines.append(f"footprint: peak RSS of the tree {peak.rss.rss / MB:.0f} MB at "
                     f"{peak.rss.at:.0f} s over {peak.rss.processes} processes; largest "
                     f"{big_rss / MB:.0f} MB pid {big_pid}: {big_cmd}")
    if peak.pss is not None:
        lines.append(f"footprint: peak PSS of the tree {peak.pss.pss / MB:.0f} MB at "
                     f"{peak.pss.at:.0f} s")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Parse the arguments, run the command under the sampler, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between samples")
    parser.add_argument("--timeline", type=Path, help="write every sample to this CSV")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    started = time.monotonic()
    process = subprocess.Popen(command, start_new_session=True)
    peak, done = Peak(), threading.Event()
    sampler = threading.Thread(
        target=watch, args=(process.pid, started, args.interval, peak, done,
                            args.timeline is not None), daemon=True)
    sampler.start()

    def forward(signum: int, _frame: object) -> None:
        os.killpg(process.pid, signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    status = process.wait()
    wall = time.monotonic() - started
    done.set()
    sampler.join()
    if args.timeline is not None:
        with args.timeline.open("w") as out:
            out.write("seconds,rss_mb,pss_mb,processes,largest_mb,largest\n")
            for s in peak.timeline:
                command_line = s.largest[2].replace('"', "'")
                out.write(f"{s.at:.1f},{s.rss / MB:.0f},{s.pss / MB:.0f},{s.processes},"
                          f"{s.largest[0] / MB:.0f},\"{command_line}\"\n")
    print(report(peak, wall, status), file=sys.stderr, flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
