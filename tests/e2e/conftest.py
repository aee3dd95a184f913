"""Every end-to-end module starts its own `stack` (with the settings and the instant its
tests need); `nobat` drives it, a test at a time."""

from __future__ import annotations

import pytest

from tests.component.notification.harness import Mailbox
from tests.e2e.flows import Nobat


@pytest.fixture
async def nobat(stack):
    nobat = Nobat(stack)
    yield nobat
    await nobat.close()


@pytest.fixture(scope="module")
def mailbox():
    """An SMTP server for a module's stack to send e-mail to (`**mailbox.settings`)."""
    with Mailbox().running() as mailbox:
        yield mailbox
