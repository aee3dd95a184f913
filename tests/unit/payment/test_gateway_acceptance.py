"""What the gateway takes is refused before it is asked: a currency Stripe does not
take, or an amount outside its least and most, is FAILED_PRECONDITION at payment
creation, worded for the patient, and nothing is stored; the wallet still pays in any
currency nobat knows. The adapter's declaration is held to the sandbox's Stripe rules,
so the two cannot drift apart unnoticed."""

from __future__ import annotations

import dataclasses

import pytest

from runtime.currency import CURRENCIES
from runtime.errors import FailedPrecondition, GatewayRefusesAmount
from runtime.money import Money
from sandbox import currencies as stripe_rules
from services.payment.adapters.stripe_gateway import STRIPE_ACCEPTS
from services.payment.domain.payment import PaymentStatus
from services.payment.domain.purchase import PaymentMethod, Purchase
from services.payment.domain.wallet import Wallet
from services.payment.handlers.context import Context, PaymentSettings
from services.payment.handlers.payments import (
    CreatePayment,
    TopUpWallet,
    create_payment,
    top_up_wallet,
)
from tests.unit.payment.builders import PATIENT, T0, doctor_line
from tests.unit.payment.fakes import FakeGateway, fake_unit

RIALS = Money(1_500_000, "IRR")
VISIT_IN_RIALS = CreatePayment(
    purchase=Purchase("booking", "checkout-irr"),
    patient_id=PATIENT,
    amount=RIALS,
    lines=(doctor_line(RIALS),),
    method=PaymentMethod.GATEWAY,
    description="Appointment",
)


def stripe_gateway() -> FakeGateway:
    gateway = FakeGateway()
    gateway.accepts = STRIPE_ACCEPTS
    return gateway


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        (Money(1_500_000, "IRR"), "does not take IRR"),
        (Money(49, "USD"), "at least 0.50 USD"),
        (Money(29, "GBP"), "at least 0.30 GBP"),
        (Money(100_000_000, "USD"), "at most 999999.99 USD"),
        (Money(12_345, "KWD"), "steps of 0.010 KWD"),
    ],
)
def test_an_amount_stripe_would_refuse_is_refused_saying_why(amount, words):
    with pytest.raises(GatewayRefusesAmount) as refused:
        STRIPE_ACCEPTS.require(amount)

    assert isinstance(refused.value, FailedPrecondition)
    assert words in refused.value.message
    assert refused.value.metadata["subject"] == f"currency:{amount.currency}"
    assert refused.value.metadata["currency"] == amount.currency


@pytest.mark.parametrize(
    "amount", [Money(50, "USD"), Money(30, "GBP"), Money(50, "JPY"), Money(12_340, "KWD")]
)
def test_an_amount_stripe_takes_passes(amount):
    STRIPE_ACCEPTS.require(amount)


def test_the_adapter_declares_no_more_than_the_sandbox_lets_through():
    """Every currency the adapter lets through the sandbox (Stripe's rules) takes too, at
    its least amount and in its steps; every nobat currency but the rial is one."""
    for code, least in STRIPE_ACCEPTS.minimum_minor.items():
        currency = code.lower()
        assert currency in stripe_rules.SUPPORTED, code
        assert least >= stripe_rules.MINIMUM.get(currency, 1), code
        step = STRIPE_ACCEPTS.step_minor.get(code, 1)
        assert step == (10 if currency in stripe_rules.THREE_DECIMAL else 1), code
        assert CURRENCIES[code].exponent == stripe_rules.exponent(currency), code
    assert STRIPE_ACCEPTS.maximum_minor == stripe_rules.MAXIMUM
    assert set(CURRENCIES) - set(STRIPE_ACCEPTS.minimum_minor) == {"IRR"}


async def test_a_gateway_payment_in_a_currency_it_cannot_take_is_refused_and_nothing_kept():
    gateway = stripe_gateway()
    uow = fake_unit()
    ctx = Context(lambda: uow, gateway, PaymentSettings(), clock=lambda: T0)

    with pytest.raises(GatewayRefusesAmount, match="does not take IRR"):
        await create_payment(ctx, uow, VISIT_IN_RIALS)
    with pytest.raises(GatewayRefusesAmount):
        await top_up_wallet(ctx, uow, TopUpWallet(PATIENT, "top-up-irr", RIALS))

    assert gateway.calls == []
    assert uow.payments.all() == []
    assert uow.commits == 0


async def test_the_wallet_still_pays_in_a_currency_the_gateway_cannot_take():
    gateway = stripe_gateway()
    uow = fake_unit(wallets=(Wallet(PATIENT, {"IRR": 2_000_000}),))
    ctx = Context(lambda: uow, gateway, PaymentSettings(), clock=lambda: T0)

    from_wallet = dataclasses.replace(VISIT_IN_RIALS, method=PaymentMethod.WALLET)
    payment = await create_payment(ctx, uow, from_wallet)

    assert payment.status is PaymentStatus.SUCCEEDED
    assert (await uow.wallets.get(PATIENT)).balance("IRR") == Money(500_000, "IRR")
    assert gateway.calls == []
