"""nobat's benchmark, `make bench`: see __main__.py, and "Benchmark" in the README."""

import time

_STARTED = time.monotonic()


def say(message: str) -> None:
    """A line of progress, stamped with the minutes and seconds since the bench started."""
    elapsed = int(time.monotonic() - _STARTED)
    print(f"[{elapsed // 60:2d}:{elapsed % 60:02d}] {message}", flush=True)
