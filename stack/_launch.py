"""Start a server tied to its owner's life where util-linux `setpriv` is missing.

Run as a script, by the owner (`stack._process.supervised`), never imported by servers:

    python -I _launch.py OWNER_PID SIGNAL MEANS OWNER_FD [USER UID GID] -- CMD...

It does what `setpriv --pdeathsig` does, by the means the platform has, then execs CMD
in its own place, so the owner's Popen holds the server's pid:

* `prctl`: Linux. The kernel signals the server when the owner dies. Dropping to USER
  comes first, because changing the uid clears the parent-death signal.
* `watchdog`: elsewhere (macOS). A detached process of ours holds the read end of a pipe
  whose only write end the owner keeps open; the kernel closes it when the owner dies,
  however it dies, and the watchdog then signals the server. It also leaves once the
  server is gone.

Only the standard library: it runs before any of the project's paths are set up.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import sys

PR_SET_PDEATHSIG = 1


def drop_to(user: str, uid: int, gid: int) -> None:
    # Groups first: setuid gives up the right to change them.
    os.initgroups(user, gid)
    os.setgid(gid)
    os.setuid(uid)


def arm_death_signal(sig: signal.Signals) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig)) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def start_watchdog(server: int, sig: signal.Signals, owner_fd: int) -> None:
    """Leave behind a process, not our child once we exec, that signals `server` (our
    own pid) when `owner_fd` reaches end of file."""
    first = os.fork()
    if first:
        os.waitpid(first, 0)
        return
    # Forked twice, so that the watchdog is nobody's child that the server could reap or
    # be confused by (a postmaster counts its children).
    if os.fork():
        os._exit(0)
    os.setsid()
    # Nothing of the server's but the pipe: whoever reads its output (subprocess.run)
    # must see it end when the server ends, not when we do.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(3, owner_fd)
    os.closerange(owner_fd + 1, os.sysconf("SC_OPEN_MAX"))
    while True:
        ready, _, _ = select.select([owner_fd], [], [], 0.5)
        if ready:
            # The owner is gone: its write end was the only one.
            with contextlib.suppress(ProcessLookupError):
                os.kill(server, sig)
            os._exit(0)
        try:
            os.kill(server, 0)
        except ProcessLookupError:
            os._exit(0)


def main(argv: list[str]) -> None:
    split = argv.index("--")
    options, cmd = argv[:split], argv[split + 1 :]
    owner, sig, means, owner_fd = int(options[0]), signal.Signals[options[1]], *options[2:4]
    if len(options) > 4:
        drop_to(options[4], int(options[5]), int(options[6]))
    if means == "prctl":
        arm_death_signal(sig)
    else:
        start_watchdog(os.getpid(), sig, int(owner_fd))
    # Had the owner died before the signal was armed, we would already belong to another
    # parent and never get it: check, then exec, keeping the pid the owner was given.
    if os.getppid() != owner:
        sys.exit(f"owner {owner} died while starting {cmd[0]}")
    os.close(int(owner_fd))
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
