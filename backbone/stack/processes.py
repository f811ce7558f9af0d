"""Operating-system chores of the local stack: finding Java, ports, and detached processes."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from backbone.stack.errors import NO_STACK_HINT, StackError

JVM_ROOT = Path("/usr/lib/jvm")


@dataclass(frozen=True)
class Java:
    """A java executable and its major version."""

    executable: Path
    major: int


def _java_major(executable: Path) -> int | None:
    release = executable.resolve().parent.parent / "release"
    if release.is_file():
        match = re.search(r'JAVA_VERSION="(\d+)', release.read_text(errors="replace"))
        if match:
            return int(match.group(1))
    try:
        out = subprocess.run(
            [str(executable), "-version"], capture_output=True, text=True, timeout=20
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _java_candidates(preferred: Path | None) -> list[Path]:
    homes = [preferred, Path(os.environ["JAVA_HOME"]) if os.environ.get("JAVA_HOME") else None]
    found = [home / "bin" / "java" for home in homes if home is not None]
    on_path = shutil.which("java")
    if on_path:
        found.append(Path(on_path))
    if JVM_ROOT.is_dir():
        found.extend(sorted(JVM_ROOT.glob("*/bin/java"), reverse=True))
    return [candidate for candidate in found if candidate.is_file()]


def find_java(min_major: int, purpose: str, preferred: Path | None = None) -> Java:
    """The first JDK of at least ``min_major``, preferring BACKBONE_JAVA_HOME and JAVA_HOME."""
    seen: list[str] = []
    for candidate in _java_candidates(preferred):
        major = _java_major(candidate)
        if major is not None and major >= min_major:
            return Java(candidate, major)
        seen.append(f"{candidate} (Java {major})")
    found = "; found only " + ", ".join(seen) if seen else "; no java was found"
    raise StackError(
        f"{purpose} needs Java {min_major} or newer{found}. Install a JDK {min_major}+ "
        f"(Debian: openjdk-17-jdk-headless for Kafka; Temurin 21+ for the registry) and set "
        f"BACKBONE_JAVA_HOME to it. {NO_STACK_HINT}"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def require_free_ports(ports: dict[str, int]) -> None:
    """Fail with the name of every port that something else already holds."""
    taken = [f"{port} ({what})" for what, port in ports.items() if not port_is_free(port)]
    if taken:
        raise StackError(
            f"port {', '.join(taken)} is in use on 127.0.0.1 by another program. Stop it, or "
            "choose other ports with BACKBONE_KAFKA_PORT, BACKBONE_CONTROLLER_PORT, "
            f"BACKBONE_REGISTRY_PORT, BACKBONE_REGISTRY_MANAGEMENT_PORT. {NO_STACK_HINT}"
        )


def spawn(command: list[str], log_file: Path, env: dict[str, str] | None = None) -> int:
    """Start ``command`` in its own session (it outlives the CLI), output to ``log_file``;
    ``env`` adds to the environment (secrets go there, not on the command line).

    posix_spawn rather than Popen: nobody waits on this child from Python, and a Popen object
    collected while its process runs warns. Returns once the child shows its command line
    (see :func:`_wait_for_exec`), so ``is_running`` is true of a process just started.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    append = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    pid = os.posix_spawn(
        command[0],
        command,
        {**os.environ, **(env or {})},
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(log_file), append, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )
    _wait_for_exec(pid, command)
    return pid


def _wait_for_exec(pid: int, command: list[str], timeout_s: float = 5.0) -> None:
    """Wait until ``/proc/<pid>/cmdline`` shows ``command``.

    posix_spawn can return before the kernel has laid out the new program's arguments: read
    then, the command line is empty (measured: 7 spawns of a JVM in 300, 25 of Python in
    2,000, on a 2-core host). ``is_running`` would take the new process for one that exited,
    and a start-up wait would fail a healthy broker (a rolling restart in the fault matrix
    did, in CI)."""
    expected = b"".join(arg.encode() + b"\0" for arg in command)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes() == expected or _state(pid) == "Z":
                return
        except OSError:
            return  # gone already: the caller's checks say so
        time.sleep(0.001)


def _state(pid: int) -> str:
    """The process's state letter (R, S, D, Z...) from ``/proc/<pid>/stat``; OSError if gone."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]


def is_running(pid: int, marker: str) -> bool:
    """Whether ``pid`` is alive and still the process we started (its command has ``marker``)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = _state(pid)
    except OSError:
        return False
    # A zombie we have not reaped is gone for our purposes.
    return state != "Z" and marker.encode() in cmdline


def stop(pid: int, marker: str, timeout_s: float) -> bool:
    """SIGTERM the process group, SIGKILL after ``timeout_s``; True if it had to be killed."""
    if not is_running(pid, marker):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not is_running(pid, marker):
            return False
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    for _ in range(50):
        _reap(pid)
        if not is_running(pid, marker):
            break
        time.sleep(0.1)
    return True


def wait_gone(pid: int, timeout_s: float) -> bool:
    """Wait until ``pid`` has left the process table; True if it did within ``timeout_s``.

    ``is_running`` already says False for a zombie, but a SIGKILLed JVM turns zombie before its
    other threads have finished exiting, and until they have, it still holds its listening
    ports and its data directory's lock: a successor started then dies at start-up.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        _reap(pid)
        if not Path(f"/proc/{pid}").exists():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def _reap(pid: int) -> None:
    # Only our own children can be reaped; for a process started by an earlier CLI call
    # this is a no-op and init reaps it.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
