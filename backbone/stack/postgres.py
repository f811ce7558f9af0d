"""A local PostgreSQL on loopback for the ERP outbox relay: find, initdb, start, stop.

Binaries come from the Debian package ``postgresql`` (``/usr/lib/postgresql/<ver>/bin``, or
``initdb`` / ``pg_ctl`` on PATH). The cluster lives in ``<run_dir>/postgres`` (data, log,
``postgres.json`` with pid and port). Debian's ``initdb`` refuses to run as root, so as root the
data folder is owned by the ``postgres`` user and every server command runs through
``runuser -u postgres --``. Authentication is ``trust`` on 127.0.0.1 only: a development
database, never exposed.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from backbone.stack import processes
from backbone.stack.errors import StackError

DEBIAN_ROOT = Path("/usr/lib/postgresql")
INSTALL_HINT = "install it with: apt-get update && apt-get install -y postgresql"
DATABASE = "backbone"
USER = "backbone"
MARKER = "postgres"


@dataclass(frozen=True)
class PostgresServer:
    """A running local PostgreSQL."""

    port: int
    pid: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def env_line(self) -> str:
        return f"export BACKBONE_ERP_DB={self.url}\n"


def find_bin_dir() -> Path:
    """The folder holding initdb, pg_ctl and postgres (the newest Debian version first)."""
    candidates = sorted(DEBIAN_ROOT.glob("*/bin"), key=_version, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise StackError(f"PostgreSQL is not installed (no initdb / pg_ctl in {DEBIAN_ROOT}/*/bin "
                     f"or on PATH); {INSTALL_HINT}")


def _version(folder: Path) -> float:
    try:
        return float(folder.parent.name)
    except ValueError:
        return 0.0


class LocalPostgres:
    """The cluster in ``<run_dir>/postgres``; ``port=0`` picks a free port."""

    def __init__(self, run_dir: Path, port: int = 0, start_timeout_s: float = 60.0) -> None:
        self.home = _home_for(run_dir.resolve())
        self.data_dir = self.home / "data"
        self.state_file = self.home / "postgres.json"
        self.log_file = self.home / "postgres.log"
        self.port = port
        self.start_timeout_s = start_timeout_s

    def up(self) -> PostgresServer:
        """Start (idempotent: a running, answering server is reused) and create the database."""
        running = self.running()
        if running is not None and self._answers(find_bin_dir(), running.port):
            return running
        bin_dir = find_bin_dir()
        self.home.mkdir(parents=True, exist_ok=True)
        owner = _server_user()
        if not (self.data_dir / "PG_VERSION").is_file():
            self._initdb(bin_dir, owner)
        port = self.port or processes.free_port()
        processes.require_free_ports({"PostgreSQL": port})
        self._run(owner, [str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l",
                          str(self.log_file), "-w", "-t", str(int(self.start_timeout_s)),
                          "-o", f"-p {port} -c listen_addresses=127.0.0.1 -k ''",
                          "start"], "starting PostgreSQL")
        pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        server = PostgresServer(port, pid, self.data_dir)
        self.state_file.write_text(json.dumps({"port": port, "pid": pid}) + "\n")
        self._wait(bin_dir, port)
        self._create_database(bin_dir, owner, port)
        return server

    def down(self, timeout_s: float = 30.0) -> bool:
        """Stop the server if it runs; True when it had to be killed."""
        running = self.running()
        if running is None:
            self.state_file.unlink(missing_ok=True)
            return False
        try:
            self._run(_server_user(), [str(find_bin_dir() / "pg_ctl"), "-D", str(self.data_dir),
                                       "-m", "fast", "-w", "-t", str(int(timeout_s)), "stop"],
                      "stopping PostgreSQL")
            killed = False
        except StackError:
            killed = processes.stop(running.pid, MARKER, 1.0)
        self.state_file.unlink(missing_ok=True)
        return killed

    def running(self) -> PostgresServer | None:
        try:
            state = json.loads(self.state_file.read_text())
            server = PostgresServer(int(state["port"]), int(state["pid"]), self.data_dir)
        except (OSError, ValueError, KeyError):
            return None
        return server if processes.is_running(server.pid, MARKER) else None

    # -- steps --------------------------------------------------------------------------------

    def _initdb(self, bin_dir: Path, owner: pwd.struct_passwd | None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if owner is not None:
            for path in (self.home, self.data_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self._run(owner, [str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", USER,
                          "--auth=trust", "--encoding=UTF8", "--no-sync"],
                  f"initdb in {self.data_dir}")
        # A relay test runs a few clients; fsync off because this is throwaway dev data.
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# backbone local stack: dev data, speed over durability\n"
                       "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")

    def _create_database(self, bin_dir: Path, owner: pwd.struct_passwd | None,
                         port: int) -> None:
        psql = shutil.which("psql") or str(bin_dir / "psql")
        exists = subprocess.run(
            [psql, "-h", "127.0.0.1", "-p", str(port), "-U", USER, "-d", "postgres", "-tAc",
             f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"],
            capture_output=True, text=True)
        if exists.stdout.strip() == "1":
            return
        self._run(None, [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                         "-U", USER, DATABASE], f"creating database {DATABASE}")

    def _wait(self, bin_dir: Path, port: int) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while not self._answers(bin_dir, port):
            if time.monotonic() > deadline:
                raise StackError(f"PostgreSQL on port {port} did not answer within "
                                 f"{self.start_timeout_s:.0f}s; last lines of {self.log_file}:\n"
                                 f"{processes.tail(self.log_file)}")
            time.sleep(0.3)

    @staticmethod
    def _answers(bin_dir: Path, port: int) -> bool:
        ready = bin_dir / "pg_isready"
        if not ready.is_file():
            return True
        return subprocess.run([str(ready), "-q", "-h", "127.0.0.1", "-p", str(port)]
                              ).returncode == 0

    def _run(self, owner: pwd.struct_passwd | None, command: list[str], what: str) -> None:
        if owner is not None:
            command = ["runuser", "-u", owner.pw_name, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, cwd=self.home)
        if result.returncode != 0:
            raise StackError(f"{what} failed (exit {result.returncode}):\n"
                             f"{(result.stdout + result.stderr)[-2000:]}\n"
                             f"log: {self.log_file}")


def _home_for(run_dir: Path) -> Path:
    """``<run_dir>/postgres``, unless the server user cannot reach it (a clone under /root,
    mode 0700): then a folder in the system temp dir derived from ``run_dir``, so ``down``
    finds the same one."""
    owner = _server_user() if os.geteuid() == 0 else None
    if owner is None or _reachable(run_dir, owner):
        return run_dir / "postgres"
    digest = hashlib.sha1(str(run_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"backbone-postgres-{digest}"


def _reachable(folder: Path, user: pwd.struct_passwd) -> bool:
    for path in (folder, *folder.parents):
        if not path.exists():
            continue
        st = path.stat()
        if st.st_uid == user.pw_uid:
            allowed = st.st_mode & 0o100
        elif st.st_gid == user.pw_gid:
            allowed = st.st_mode & 0o010
        else:
            allowed = st.st_mode & 0o001
        if not allowed:
            return False
    return True


def _server_user() -> pwd.struct_passwd | None:
    """Who runs the server: ourselves, or ``postgres`` when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise StackError("running as root, and there is no 'postgres' user to run PostgreSQL "
                         f"as (initdb refuses root); {INSTALL_HINT} creates it") from None
