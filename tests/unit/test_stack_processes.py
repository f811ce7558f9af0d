"""The stack's process helpers: a killed process counts as gone only once it has left the table."""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from backbone.stack import processes

# a process with several threads, like the JVM: SIGKILL makes its leader a zombie first
THREADS = ("import threading, time\n"
           "for _ in range(8):\n"
           "    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
           "time.sleep(60)\n")


def test_a_killed_child_is_gone_once_reaped(tmp_path: Path) -> None:
    pid = processes.spawn([sys.executable, "-c", THREADS], tmp_path / "child.out")
    assert processes.is_running(pid, "threading")
    os.kill(pid, signal.SIGKILL)

    assert processes.wait_gone(pid, timeout_s=10)
    assert not Path(f"/proc/{pid}").exists()
    assert not processes.is_running(pid, "threading")


def test_a_live_process_is_not_reported_gone(tmp_path: Path) -> None:
    pid = processes.spawn([sys.executable, "-c", THREADS], tmp_path / "child.out")
    try:
        assert not processes.wait_gone(pid, timeout_s=0.3)
    finally:
        processes.stop(pid, "threading", timeout_s=5)
    assert processes.wait_gone(pid, timeout_s=10)
