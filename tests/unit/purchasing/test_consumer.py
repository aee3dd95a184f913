"""Payment's PurchaseVoided as booking and consultation read it: news about one of the
context's own checkouts, another kind's passed over, a message missing its payment or its
time refused rather than guessed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from nobat.payment.v1 import events_pb2, payment_service_pb2

from purchasing.consumer import payment_event_handlers
from purchasing.news import PurchaseVoided
from runtime.errors import InvalidArgument

VOIDED_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def voided(kind: str = "booking", **fields) -> events_pb2.PurchaseVoided:
    message = events_pb2.PurchaseVoided(
        payment_id="payment-1",
        purchase=payment_service_pb2.Purchase(kind=kind, ref="checkout-1"),
        reason="fraud_warning",
        voided_at=Timestamp(seconds=int(VOIDED_AT.timestamp())),
    )
    for name in fields:
        message.ClearField(name)
    return message


class Told:
    def __init__(self) -> None:
        self.news: list[object] = []

    async def __call__(self, news: object, uow: object = None) -> None:
        self.news.append(news)


async def test_a_voided_purchase_of_the_contexts_kind_is_its_news_and_another_kind_is_not():
    told = Told()
    concerning = payment_event_handlers("booking", told)[events_pb2.PurchaseVoided]  # type: ignore[arg-type]

    assert not concerning.concerns(voided("consultation"))
    assert concerning.concerns(voided())
    await concerning.handle(voided(), None)

    assert told.news == [PurchaseVoided("checkout-1", "payment-1", "fraud_warning", VOIDED_AT)]


@pytest.mark.parametrize("missing", ["payment_id", "voided_at"])
async def test_a_voided_purchase_without_its_payment_or_time_is_refused(missing):
    told = Told()
    concerning = payment_event_handlers("booking", told)[events_pb2.PurchaseVoided]  # type: ignore[arg-type]

    with pytest.raises(InvalidArgument):
        await concerning.handle(voided(**{missing: True}), None)
    assert told.news == []
