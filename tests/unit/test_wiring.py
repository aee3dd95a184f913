"""Each service's NATS user may state its own facts and read through its own consumers,
and nothing else; a consumer the table does not know is refused before NATS would."""

from __future__ import annotations

import pytest

from runtime.events import BOOKING, CONSULTATION, PAYMENT
from runtime.wiring import WIRING, nats_permissions


def allowed(service: str, direction: str) -> list[str]:
    return nats_permissions(service)["publish" if direction == "pub" else "subscribe"]["allow"]


def test_only_payment_may_publish_payments_facts():
    publishers = {s for s in WIRING if "nobat.payment.v1.>" in allowed(s, "pub")}
    assert publishers == {"payment"}
    for service in WIRING:
        facts = [p for p in allowed(service, "pub") if p.startswith("nobat.")]
        own = WIRING[service].publishes
        assert facts == ([] if own is None else [f"nobat.{own.context}.v1.>"])


def test_a_service_manages_only_its_own_stream_and_hears_only_its_own_replies():
    for service, wiring in WIRING.items():
        streams = [p for p in allowed(service, "pub") if p.startswith("$JS.API.STREAM.")]
        assert all(p.endswith(f".{wiring.publishes.name}") for p in streams), service
        assert allowed(service, "sub") == [f"_INBOX_{service}.>"]


def test_consumers_are_named_and_others_are_refused():
    assert "$JS.API.CONSUMER.MSG.NEXT.PAYMENT.booking" in allowed("booking", "pub")
    assert not any(".CONSULTATION." in p for p in allowed("booking", "pub"))
    assert WIRING["payment"].reader(BOOKING, "payment").durable == "payment"
    with pytest.raises(ValueError, match="no consumer sneaky on PAYMENT"):
        WIRING["booking"].reader(PAYMENT, "sneaky")
    with pytest.raises(ValueError):
        WIRING["booking"].reader(CONSULTATION, "booking")
