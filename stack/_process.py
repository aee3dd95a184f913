"""Server processes that cannot outlive the Python process that owns them.

`stop()` methods, context managers and `atexit` cover orderly exits and Ctrl-C, but
none of them runs when the owner is SIGKILLed (a killed test run, an OOM kill, a
crashed IDE). So every server is a direct child of its owner and carries a
parent-death signal (prctl PR_SET_PDEATHSIG): the kernel itself signals the server
when the owner dies, however it dies.

Two Linux details shape the code below:

* The kernel clears the parent-death signal when the uid changes, so it must be set
  *after* dropping root. util-linux `setpriv` does exactly that (setresuid, then
  prctl, then exec), without running Python between fork and exec.
* The signal fires when the *thread* that forked the child exits, not the process.
  A server started from a worker thread would be stopped when that thread ends, so
  `spawn` refuses to run outside the main thread.

Where `setpriv` is missing (macOS, minimal images), `stack/_launch.py` stands in: the
same prctl from Python on Linux, and elsewhere a watchdog that signals the server when
a pipe only the owner can hold open reaches its end.
"""

import abc
import atexit
import functools
import http.client
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self


class StackError(RuntimeError):
    """An embedded server could not be set up, started or used."""


@functools.cache
def _setpriv() -> str | None:
    path = shutil.which("setpriv")
    if path is not None:
        usage = subprocess.run([path, "--help"], capture_output=True, text=True).stdout
        if "--pdeathsig" in usage:  # util-linux >= 2.33
            return path
    return None


def parent_death_means() -> str:
    """How servers learn that their owner died: "setpriv", else "prctl" (Linux) or
    "watchdog" (stack/_launch.py)."""
    if _setpriv() is not None:
        return "setpriv"
    return "prctl" if sys.platform == "linux" else "watchdog"


@functools.cache
def _owner_pipe() -> int:
    """The read end of a pipe whose write end only this process holds (os.pipe's ends are
    not inherited), open until it dies: the watchdogs' sign of our death."""
    read_end, _write_end = os.pipe()
    return read_end


def supervised(
    cmd: Sequence[str], death_signal: signal.Signals, user: pwd.struct_passwd | None = None
) -> tuple[list[str], dict[str, Any]]:
    """The argv and Popen options that run `cmd` as `user` (if given) and give it
    `death_signal` when we die."""
    if threading.current_thread() is not threading.main_thread():
        raise StackError(
            "start embedded servers from the main thread: the parent-death signal fires "
            "when the thread that started them exits"
        )
    means, setpriv = parent_death_means(), _setpriv()
    if means != "setpriv" or setpriv is None:
        # The launcher runs as us (root, say) and drops to `user` itself: an unprivileged
        # user may not be able to run this Python (under /root, say).
        launcher = [sys.executable, "-I", str(Path(__file__).with_name("_launch.py"))]
        options = [str(os.getpid()), death_signal.name, means, str(_owner_pipe())]
        if user is not None:
            options += [user.pw_name, str(user.pw_uid), str(user.pw_gid)]
        return [*launcher, *options, "--", *cmd], {"pass_fds": (_owner_pipe(),)}
    prefix = [setpriv, "--pdeathsig", death_signal.name.removeprefix("SIG")]
    if user is not None:
        prefix += ["--reuid", str(user.pw_uid), "--regid", str(user.pw_gid), "--init-groups"]
    # setpriv arms the signal a few milliseconds after fork. Had we died in between, the
    # child would already be re-parented and never get it, so the shell checks that we
    # are still its parent, then execs the server, which keeps the pid we were given.
    guard = ["sh", "-c", '[ "$PPID" = "$0" ] && exec "$@"', str(os.getpid())]
    return [*prefix, "--", *guard, *cmd], {}


def spawn(
    cmd: Sequence[str],
    death_signal: signal.Signals,
    log_path: Path,
    cwd: Path,
    user: pwd.struct_passwd | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running server whose output is appended to `log_path`."""
    argv, options = supervised(cmd, death_signal, user)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            argv,
            **options,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            # Ctrl-C signals the whole foreground process group. Keeping servers out of
            # it lets the owner stop them last, after its services have drained; if the
            # owner dies of the Ctrl-C instead, the parent-death signal stops them.
            start_new_session=True,
        )


def terminate(proc: subprocess.Popen[bytes], steps: Sequence[tuple[signal.Signals, float]]) -> None:
    """Send each (signal, seconds to wait) in turn until `proc` exits, then SIGKILL it."""
    for sig, timeout in steps:
        if proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            pass
    proc.kill()
    proc.wait()


class ServerProcess(abc.ABC):
    """What every embedded server shares: its one child process, which `stop()` ends (at
    interpreter exit too, if nothing did before), and `with`, which starts and stops it."""

    _proc: subprocess.Popen[bytes] | None = None

    @abc.abstractmethod
    def start(self) -> None: ...

    @abc.abstractmethod
    def stop(self) -> None: ...

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

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

    def _alive(self) -> bool:
        """Whether the server runs; one that died on its own (a fault test?) is tidied up,
        so that it can be started afresh."""
        if self._proc is not None and self._proc.poll() is None:
            return True
        self.stop()
        return False

    def _own(self, proc: subprocess.Popen[bytes], wait_ready: Callable[[], None]) -> None:
        """Keep `proc` as this server and return once `wait_ready` does; stop it if not."""
        self._proc = proc
        atexit.register(self.stop)
        try:
            wait_ready()
        except BaseException:
            self.stop()
            raise

    def _end(self, steps: Sequence[tuple[signal.Signals, float]]) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        atexit.unregister(self.stop)
        terminate(proc, steps)


def accepts_tcp(port: int) -> bool:
    """Whether something listens on 127.0.0.1:`port`."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def answers_http(port: int, path: str) -> bool:
    """Whether a server on 127.0.0.1:`port` answers GET `path` with 200."""
    # http.client rather than urllib: urllib would send 127.0.0.1 through any
    # http_proxy set in the environment.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def wait_ready(
    proc: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    what: str,
    log_path: Path,
    timeout: float,
) -> None:
    """Poll `ready` until it holds; StackError if `proc` exits first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while not ready():
        code = proc.poll()
        if code is not None:
            raise StackError(
                f"{what} exited with {code} while starting; {log_path}:\n{log_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise StackError(
                f"{what} not ready after {timeout}s; {log_path}:\n{log_tail(log_path)}"
            )
        time.sleep(0.01)


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def system_user(name: str) -> pwd.struct_passwd:
    """Return the unprivileged system user `name`, creating it if it does not exist."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    created = subprocess.run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ],
        capture_output=True,
        text=True,
    )
    try:
        # Looked up again rather than trusting the exit code: a concurrent test process
        # may have created the user first, which makes our useradd fail harmlessly.
        return pwd.getpwnam(name)
    except KeyError:
        detail = created.stderr.strip()
        raise StackError(f"could not create system user {name!r}: {detail}") from None


def give_to(path: Path, user: pwd.struct_passwd) -> None:
    """Make `path` (recursively) owned by `user`, and check that `user` can reach it."""
    if path.stat().st_uid != user.pw_uid:
        os.chown(path, user.pw_uid, user.pw_gid)
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                os.chown(os.path.join(root, name), user.pw_uid, user.pw_gid, follow_symlinks=False)
    for parent in path.parents:
        mode = parent.stat()
        if mode.st_uid == user.pw_uid:
            allowed = mode.st_mode & stat.S_IXUSR
        elif mode.st_gid == user.pw_gid:
            allowed = mode.st_mode & stat.S_IXGRP
        else:
            allowed = mode.st_mode & stat.S_IXOTH
        if not allowed:
            raise StackError(
                f"{parent} (mode {stat.filemode(mode.st_mode)}) keeps user {user.pw_name!r} "
                f"from reaching {path}; keep data under a world-searchable directory "
                "(pytest's tmp_path is not one when running as root: use tempfile.mkdtemp() "
                "and chmod it 0o755)"
            )
