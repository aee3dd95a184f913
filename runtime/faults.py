"""Named crash points for fault tests.

The runtime marks the moments where a crash is most dangerous (between a commit and a
publish, between a publish and its bookkeeping, between a commit and an ack). A test
sets NOBAT_CRASH_AT to one of those names and the process kills itself with SIGKILL
there, exactly as a node losing power would. Unset, a crash point costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

RELAY_BEFORE_PUBLISH = "relay.before_publish"
RELAY_AFTER_PUBLISH = "relay.after_publish"
CONSUMER_BEFORE_COMMIT = "consumer.before_commit"
CONSUMER_AFTER_COMMIT = "consumer.after_commit"


def crash_point(name: str) -> None:
    if os.environ.get("NOBAT_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
