"""How often a patient's calls about one payment reach the gateway: ConfirmPayment reads it
at most once per payment a while and answers with the payment as stored in between, and a
payment starts only so many attempts (each a new gateway session) in a window."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.payment.domain.errors import PaymentNotFound, TooManyPaymentAttempts
from services.payment.domain.gateway_calls import GatewayCallLimits
from services.payment.domain.payment import PaymentStatus
from services.payment.handlers.context import Context, PaymentSettings
from services.payment.handlers.payments import (
    ConfirmPayment,
    RetryPayment,
    SettlePayment,
    Viewer,
    confirm_payment,
    create_payment,
    retry_payment,
    settle_payment,
)
from tests.unit.payment.builders import PATIENT, T0
from tests.unit.payment.fakes import FakeGateway, fake_unit
from tests.unit.payment.test_handlers import APPOINTMENT

EVERY = timedelta(seconds=5)
WINDOW = timedelta(minutes=10)
LIMITS = GatewayCallLimits(check_every=EVERY, attempts=3, window=WINDOW)


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def uow():
    return fake_unit()


def at(uow, gateway, when=T0) -> Context:
    settings = PaymentSettings(gateway_calls=LIMITS)
    return Context(lambda: uow, gateway, settings, clock=lambda: when)


THE_PATIENT = Viewer(patient_id=PATIENT)


async def confirm(uow, gateway, payment_id, when, viewer=THE_PATIENT):
    return await confirm_payment(at(uow, gateway, when), uow, ConfirmPayment(payment_id, viewer))


async def test_confirmations_in_a_loop_read_the_gateway_once_a_while_and_answer_as_stored(
    uow, gateway
):
    payment = await create_payment(at(uow, gateway), uow, APPOINTMENT)
    await confirm(uow, gateway, payment.id, T0)
    gateway.pay(payment.attempts[0].gateway_ref, payment.amount)

    between = [await confirm(uow, gateway, payment.id, T0 + n * EVERY / 10) for n in range(1, 10)]

    assert {p.status for p in between} == {PaymentStatus.PROCESSING}
    assert len(gateway.asked("read_checkout")) == 1
    after = await confirm(uow, gateway, payment.id, T0 + EVERY)
    assert after.status is PaymentStatus.SUCCEEDED
    assert len(gateway.asked("read_checkout")) == 2


async def test_a_webhook_still_settles_between_confirmations_and_they_answer_with_it(uow, gateway):
    payment = await create_payment(at(uow, gateway), uow, APPOINTMENT)
    await confirm(uow, gateway, payment.id, T0)
    gateway.pay(payment.attempts[0].gateway_ref, payment.amount)

    await settle_payment(at(uow, gateway, T0 + EVERY / 5), uow, SettlePayment(payment.id))

    answer = await confirm(uow, gateway, payment.id, T0 + EVERY / 2)
    assert answer.status is PaymentStatus.SUCCEEDED
    assert len(gateway.asked("read_checkout")) == 2


async def test_a_stranger_confirming_uses_up_nothing_of_the_patients_checks(uow, gateway):
    payment = await create_payment(at(uow, gateway), uow, APPOINTMENT)
    gateway.pay(payment.attempts[0].gateway_ref, payment.amount)

    with pytest.raises(PaymentNotFound):
        await confirm(uow, gateway, payment.id, T0, viewer=Viewer(patient_id="patient-2"))

    assert (await confirm(uow, gateway, payment.id, T0)).status is PaymentStatus.SUCCEEDED


async def retried(uow, gateway, payment_id, when):
    return await retry_payment(at(uow, gateway, when), uow, RetryPayment(payment_id))


async def test_a_payment_out_of_attempts_is_refused_until_the_oldest_leaves_the_window(
    uow, gateway
):
    payment = await create_payment(at(uow, gateway), uow, APPOINTMENT)
    await retried(uow, gateway, payment.id, T0 + timedelta(minutes=1))
    await retried(uow, gateway, payment.id, T0 + timedelta(minutes=2))
    calls = list(gateway.calls)

    with pytest.raises(TooManyPaymentAttempts) as refused:
        await retried(uow, gateway, payment.id, T0 + timedelta(minutes=3))

    assert refused.value.retry_after == WINDOW - timedelta(minutes=3)
    assert gateway.calls == calls
    assert len(uow.payments.all()[0].attempts) == 3
    again = await retried(uow, gateway, payment.id, T0 + WINDOW)
    assert len(again.attempts) == 4
