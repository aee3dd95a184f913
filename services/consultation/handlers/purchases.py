"""Intake, checkout and what payment says about it.

Phase one of a consultation: the patient describes the complaint, triage decides what
may be offered and at what price, and a checkout has payment charge for it. Only a
confirmed payment opens a clinical session, and nothing else: no consultation and no
doctor until the detailed symptoms come (see `clinical`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from clients.payment import OpenedAttempt, PaymentOrder
from purchasing.checkout import ConfirmedPayment, PaymentFailure, PaymentMethod
from purchasing.errors import CheckoutNotFound
from purchasing.events import UNKNOWN_CHECKOUT, Purchase, PurchaseRejected
from runtime.db import UnitOfWork
from services.consultation.adapters.messages import event_message
from services.consultation.domain.audit import SubjectKind
from services.consultation.domain.caller import Caller
from services.consultation.domain.checkout import Checkout, start_checkout
from services.consultation.domain.errors import DoctorNotFound, IntakeNotFound
from services.consultation.domain.intake import Intake, start_intake
from services.consultation.domain.offers import ConsultationType
from services.consultation.domain.triage import ReportedSymptom, Sex
from services.consultation.handlers.context import Context
from services.consultation.handlers.stores import Stores, derived_id, publish


class CheckoutNotYetVisible(Exception):
    """A payment event about a checkout whose transaction has not committed yet (a wallet
    payment confirms inside StartCheckout's own call): worth redelivering shortly."""


@dataclass(frozen=True)
class StartIntake:
    patient: Caller
    key: str
    complaint: str
    symptoms: tuple[ReportedSymptom, ...]
    age_years: int
    sex: Sex | None


@dataclass(frozen=True)
class StartCheckout:
    patient_id: str
    key: str
    intake_id: str
    type: ConsultationType
    doctor_id: str | None
    method: PaymentMethod
    return_url: str = ""


async def start_the_intake(ctx: Context, uow: UnitOfWork, cmd: StartIntake) -> Intake:
    async with uow:
        stores = Stores(uow.session)
        now = ctx.clock()
        intake = start_intake(
            intake_id=derived_id("intake", cmd.patient.id, cmd.key),
            patient_id=cmd.patient.id,
            complaint=cmd.complaint,
            symptoms=cmd.symptoms,
            age_years=cmd.age_years,
            sex=cmd.sex,
            triage=ctx.triage,
            prices=await stores.prices.get_all(),
            now=now,
            ttl=ctx.settings.intake_ttl,
        )
        await stores.intakes.save(intake)
        await stores.audited(cmd.patient, "StartIntake", SubjectKind.INTAKE, intake.id, now)
        await uow.commit()
        return intake


async def load_checkout(
    stores: Stores, checkout_id: str, viewer: str | None, *, lock: bool = False
) -> Checkout:
    checkout = await stores.checkouts.get(checkout_id, for_update=lock)
    if checkout is None or (viewer is not None and checkout.patient_id != viewer):
        raise CheckoutNotFound(checkout_id)
    return checkout


async def get_checkout(
    ctx: Context, uow: UnitOfWork, checkout_id: str, viewer: str | None
) -> Checkout:
    async with uow:
        return await load_checkout(Stores(uow.session), checkout_id, viewer)


async def start(ctx: Context, uow: UnitOfWork, cmd: StartCheckout) -> Checkout:
    async with uow:
        stores = Stores(uow.session)
        intake = await stores.intakes.get(cmd.intake_id)
        if intake is None:
            raise IntakeNotFound(cmd.intake_id)
        doctor = None
        if cmd.doctor_id:
            doctor = await stores.doctors.get(cmd.doctor_id)
            if doctor is None:
                raise DoctorNotFound(cmd.doctor_id)
        now = ctx.clock()
        checkout = start_checkout(
            checkout_id=derived_id("checkout", cmd.patient_id, cmd.key),
            intake=intake,
            patient_id=cmd.patient_id,
            consultation_type=cmd.type,
            doctor=doctor,
            method=cmd.method,
            now=now,
            ttl=ctx.settings.checkout_ttl,
        )
        opened = await ctx.payments.open(
            PaymentOrder(
                purchase_kind=checkout.PURCHASE_KIND,
                purchase_ref=checkout.id,
                patient_id=checkout.patient_id,
                doctor_id=checkout.doctor_id,
                amount_minor=checkout.price.amount_minor,
                currency=checkout.price.currency,
                method=checkout.method.value,
                return_url=cmd.return_url or ctx.settings.default_return_url,
                description=f"Online consultation ({checkout.type.value})",
                expires_at=checkout.expires_at,
            )
        )
        _opened(checkout, opened, now)
        await stores.checkouts.save(checkout)
        await uow.commit()
        return checkout


def _opened(checkout: Checkout, opened: OpenedAttempt, now) -> None:
    checkout.payment_created(
        payment_id=opened.payment_id,
        attempt_id=opened.attempt_id,
        checkout_url=opened.checkout_url,
        now=now,
    )
    if opened.failure is not None:
        failure = opened.failure
        checkout.payment_failed(
            PaymentFailure(failure.code, failure.message, failure.retryable),
            now=now,
            payment_id=opened.payment_id,
            attempt_id=opened.attempt_id,
        )


async def retry(
    ctx: Context,
    uow: UnitOfWork,
    checkout_id: str,
    method: PaymentMethod | None,
    viewer: str | None,
) -> Checkout:
    async with uow:
        stores = Stores(uow.session)
        checkout = await load_checkout(stores, checkout_id, viewer, lock=True)
        now = ctx.clock()
        checkout.retry(now, method)
        assert checkout.payment_id is not None
        opened = await ctx.payments.retry(
            checkout.payment_id,
            f"{checkout.id}/attempt/{checkout.attempt}",
            checkout.method.value,
            ctx.settings.default_return_url,
        )
        _opened(checkout, opened, now)
        await stores.checkouts.save(checkout)
        await uow.commit()
        return checkout


async def _locked(
    ctx: Context, stores: Stores, checkout_id: str, happened_at: datetime
) -> Checkout | None:
    """The checkout, locked; None for one that was never stored."""
    checkout = await stores.checkouts.get(checkout_id, for_update=True)
    if checkout is None and ctx.clock() - happened_at < ctx.settings.unknown_checkout_after:
        raise CheckoutNotYetVisible(checkout_id)
    return checkout


async def payment_confirmed(
    ctx: Context, uow: UnitOfWork, checkout_id: str, payment: ConfirmedPayment
) -> None:
    """A paid checkout opens its clinical session, and nothing else; a checkout that can
    no longer be honoured (the chosen doctor left, a wrong amount) is refunded in full."""
    async with uow:
        stores = Stores(uow.session)
        checkout = await _locked(ctx, stores, checkout_id, payment.confirmed_at)
        if checkout is None:
            # Payment took money for a checkout whose own transaction never committed:
            # nothing was bought, so all of it goes back.
            rejection = PurchaseRejected(
                payment.payment_id,
                Purchase(Checkout.PURCHASE_KIND, checkout_id),
                UNKNOWN_CHECKOUT,
                ctx.clock(),
            )
            uow.emit(event_message(rejection), correlation_id=checkout_id)
            await uow.commit()
            return
        doctor = await stores.doctors.get(checkout.doctor_id) if checkout.doctor_id else None
        session = checkout.payment_confirmed(
            payment,
            doctor=doctor,
            clinical_session_id=derived_id("clinical-session", checkout.id),
            now=ctx.clock(),
            session_ttl=ctx.settings.session_ttl,
        )
        if session is not None:
            await stores.sessions.save(session)
        await stores.checkouts.save(checkout)
        publish(uow, checkout, session, correlation_id=checkout.id)
        await uow.commit()


async def payment_failed(
    ctx: Context,
    uow: UnitOfWork,
    checkout_id: str,
    failure: PaymentFailure,
    payment_id: str,
    attempt_id: str | None,
    failed_at: datetime,
) -> None:
    async with uow:
        stores = Stores(uow.session)
        checkout = await _locked(ctx, stores, checkout_id, failed_at)
        if checkout is None:
            return  # a checkout never stored has nothing to fail
        checkout.payment_failed(
            failure, now=ctx.clock(), payment_id=payment_id, attempt_id=attempt_id
        )
        await stores.checkouts.save(checkout)
        await uow.commit()


async def payment_expired(
    ctx: Context, uow: UnitOfWork, checkout_id: str, expired_at: datetime | None = None
) -> None:
    async with uow:
        stores = Stores(uow.session)
        checkout = await _locked(ctx, stores, checkout_id, expired_at or ctx.clock())
        if checkout is None:
            return
        checkout.expire(ctx.clock())
        await stores.checkouts.save(checkout)
        await uow.commit()


async def open_past_expiry(ctx: Context, uow: UnitOfWork) -> Sequence[str]:
    async with uow:
        return await Stores(uow.session).checkouts.open_past_expiry(ctx.clock(), ctx.settings.batch)
