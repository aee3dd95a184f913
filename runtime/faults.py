"""Named crash points for fault tests.

The runtime marks the moments where a crash is most dangerous (between a commit and a
publish, between a publish and its bookkeeping, between a commit and an ack). A test
sets NOBAT_CRASH_AT to one of those names in the environment a process starts with, and
the process kills itself with SIGKILL there, exactly as a node losing power would. The
setting is read once: a flow passes a crash point about ten times, and reading the
environment each time (an encode, a lookup and a decode) showed in a consumer's profile.
"""

from __future__ import annotations

import os
import signal

RELAY_BEFORE_PUBLISH = "relay.before_publish"
RELAY_AFTER_PUBLISH = "relay.after_publish"
CONSUMER_BEFORE_COMMIT = "consumer.before_commit"
CONSUMER_AFTER_COMMIT = "consumer.after_commit"


_CRASH_AT = os.environ.get("NOBAT_CRASH_AT")


def crash_point(name: str) -> None:
    if name == _CRASH_AT:
        os.kill(os.getpid(), signal.SIGKILL)
