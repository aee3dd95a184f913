"""The cap on a patient's open checkouts, on consultation's handlers: refused at the cap
with when to try again, nothing stored and payment not asked; a settled or expired
checkout makes room."""

from __future__ import annotations

from datetime import timedelta

import pytest

from purchasing.checkout import CheckoutStatus, ConfirmedPayment, PaymentMethod
from purchasing.errors import TooManyOpenCheckouts
from purchasing.news import PaymentConfirmed, PaymentExpired
from services.consultation.handlers import purchases
from services.consultation.handlers.context import ConsultationSettings, Context
from tests.unit.consultation.builders import CHAT, NOW, RULES, an_intake
from tests.unit.consultation.fakes import FakePayments, fake_unit
from tests.unit.fakes import FakeWatch

CAP = 2
TTL = timedelta(minutes=30)


def capped(uow, payments: FakePayments, at=NOW) -> Context:
    return Context(
        unit_of_work=lambda: uow,
        payments=payments,
        triage=RULES,
        chats=FakeWatch(),
        settings=ConsultationSettings(max_open_checkouts=CAP, checkout_ttl=TTL),
        clock=lambda: at,
    )


async def start(uow, payments, key: str, at=NOW):
    command = purchases.StartCheckout(
        "patient-1", key, "intake-1", CHAT, None, PaymentMethod.GATEWAY
    )
    return await purchases.start_checkout(capped(uow, payments, at), uow, command)


async def at_the_cap():
    uow, payments = fake_unit(intakes=[an_intake()]), FakePayments()
    first = await start(uow, payments, "key-1")
    await start(uow, payments, "key-2", NOW + timedelta(minutes=1))
    return uow, payments, first


async def test_a_patient_at_the_cap_is_refused_until_the_first_expires_and_nothing_is_stored():
    uow, payments, first = await at_the_cap()
    later = NOW + timedelta(minutes=5)

    with pytest.raises(TooManyOpenCheckouts) as refused:
        await start(uow, payments, "key-3", later)

    assert refused.value.retry_after == first.expires_at - later
    assert len(uow.checkouts.all()) == 2 and len(payments.orders) == 2


async def test_a_paid_checkout_makes_room_for_another():
    uow, payments, first = await at_the_cap()
    paid = PaymentConfirmed(first.id, ConfirmedPayment(first.payment_id, first.price, NOW))
    await purchases.payment_confirmed(capped(uow, payments), uow, paid)

    third = await start(uow, payments, "key-3")

    assert third.status is CheckoutStatus.AWAITING_PAYMENT and len(payments.orders) == 3


async def test_an_expired_checkout_makes_room_for_another():
    uow, payments, first = await at_the_cap()
    await purchases.payment_expired(capped(uow, payments), uow, PaymentExpired(first.id, NOW))

    third = await start(uow, payments, "key-3")

    assert third.status is CheckoutStatus.AWAITING_PAYMENT
