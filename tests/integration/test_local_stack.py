"""`backbone stack up | down | status` as a user runs it: idempotent, clean, clear errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from backbone.settings import load_settings
from backbone.stack import LocalStack, StackError
from backbone.stack.processes import find_java, free_port
from tests.stack import REPO

pytestmark = pytest.mark.integration


def _lib_dir() -> Path:
    configured = load_settings().resolved_lib_dir
    return configured if configured.is_absolute() else REPO / configured


def _cli(state: Path, ports: dict[str, int], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL")}
    env.update({
        "BACKBONE_STATE_DIR": str(state), "BACKBONE_LIB_DIR": str(_lib_dir()),
        **{f"BACKBONE_{name.upper()}_PORT": str(port) for name, port in ports.items()},
    })
    return subprocess.run([sys.executable, "-m", "backbone", "stack", *args], env=env,
                          capture_output=True, text=True, timeout=240)


def _java_pids_under(state: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            status = (proc / "status").read_text()
        except OSError:
            continue
        if str(state).encode() in cmdline and "State:\tZ" not in status:
            pids.append(int(proc.name))
    return pids


def test_up_twice_status_and_down_leave_nothing_behind(tmp_path: Path) -> None:
    ports = {"kafka": free_port(), "controller": free_port(), "registry": free_port(),
             "registry_management": free_port()}
    first = _cli(tmp_path, ports, "up")
    try:
        assert first.returncode == 0, first.stderr
        assert first.stdout == (
            f"export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{ports['kafka']}\n"
            f"export SCHEMA_REGISTRY_URL=http://127.0.0.1:{ports['registry']}/apis/ccompat/v7\n"
        )
        second = _cli(tmp_path, ports, "up")
        assert second.returncode == 0 and second.stdout == first.stdout
        status = _cli(tmp_path, ports, "status")
        assert status.returncode == 0
        assert status.stdout.count("answering") == 2
        assert len(_java_pids_under(tmp_path)) == 2
    finally:
        down = _cli(tmp_path, ports, "down")
    assert down.returncode == 0
    assert _java_pids_under(tmp_path) == []
    assert _cli(tmp_path, ports, "status").returncode == 1


def test_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        settings = load_settings(state_dir=tmp_path, lib_dir=_lib_dir(), kafka_port=taken,
                                 controller_port=0, registry_port=0,
                                 registry_management_port=0)
        with pytest.raises(StackError, match=rf"port {taken} \(Kafka\) is in use"):
            LocalStack(settings).up()
    assert _java_pids_under(tmp_path) == []


def test_missing_java_says_what_to_install() -> None:
    with pytest.raises(StackError, match="needs Java 99 or newer") as caught:
        find_java(99, "Kafka")
    assert "BACKBONE_JAVA_HOME" in str(caught.value)
    assert "KAFKA_BOOTSTRAP_SERVERS" in str(caught.value)
