"""Intake, checkout and what payment says about it.

Phase one of a consultation: the patient describes the complaint, triage decides what
may be offered and at what price, and a checkout has payment charge for it. Only a
confirmed payment opens a clinical session, and nothing else: no consultation and no
doctor until the detailed symptoms come (see `clinical`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from clients.payment import OpenedAttempt
from purchasing.checkout import PaymentMethod
from purchasing.commands import ExpireCheckout, RetryCheckout
from purchasing.handlers import (
    attempt_again,
    attempt_opened,
    ensure_was_stored,
    load_checkout,
    payment_order,
    refund_unknown_checkout,
)
from purchasing.news import PaymentConfirmed, PaymentExpired, PaymentFailed, PurchaseVoided
from purchasing.quota import ensure_may_open_another
from runtime.jobs import sweep
from services.consultation.domain.audit import SubjectKind
from services.consultation.domain.caller import Caller
from services.consultation.domain.checkout import Checkout, open_checkout
from services.consultation.domain.errors import DoctorNotFound, IntakeNotFound
from services.consultation.domain.intake import Intake, open_intake
from services.consultation.domain.offers import ConsultationType
from services.consultation.domain.triage import ReportedSymptom, Sex
from services.consultation.handlers.context import Context
from services.consultation.handlers.unit_of_work import ConsultationUnit, audited, derived_id

log = logging.getLogger(__name__)


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


async def start_intake(ctx: Context, uow: ConsultationUnit, cmd: StartIntake) -> Intake:
    async with uow:
        now = ctx.clock()
        intake = open_intake(
            intake_id=derived_id("intake", cmd.patient.id, cmd.key),
            patient_id=cmd.patient.id,
            complaint=cmd.complaint,
            symptoms=cmd.symptoms,
            age_years=cmd.age_years,
            sex=cmd.sex,
            triage=ctx.triage,
            prices=await uow.prices.get_all(),
            now=now,
            ttl=ctx.settings.intake_ttl,
        )
        await uow.intakes.save(intake)
        await audited(uow, cmd.patient, "StartIntake", SubjectKind.INTAKE, intake.id, now=now)
        await uow.commit()
        return intake


async def start_checkout(ctx: Context, uow: ConsultationUnit, cmd: StartCheckout) -> Checkout:
    async with uow:
        intake = await uow.intakes.get(cmd.intake_id)
        if intake is None:
            raise IntakeNotFound(cmd.intake_id)
        doctor = None
        if cmd.doctor_id:
            doctor = await uow.doctors.get(cmd.doctor_id)
            if doctor is None:
                raise DoctorNotFound(cmd.doctor_id)
        now = ctx.clock()
        checkout = open_checkout(
            checkout_id=derived_id("checkout", cmd.patient_id, cmd.key),
            intake=intake,
            patient_id=cmd.patient_id,
            consultation_type=cmd.type,
            doctor=doctor,
            method=cmd.method,
            now=now,
            ttl=ctx.settings.checkout_ttl,
        )
        open_now = await uow.checkouts.open_of(cmd.patient_id, now)
        ensure_may_open_another(cmd.patient_id, open_now, ctx.settings.max_open_checkouts, now)
        opened = await ctx.payments.open(
            payment_order(
                checkout,
                doctor_id=checkout.doctor_id,
                description=f"Online consultation ({checkout.type.value})",
                return_url=cmd.return_url or ctx.settings.default_return_url,
            )
        )
        _opened(checkout, opened, now)
        await uow.checkouts.save(checkout)
        await uow.commit()
        return checkout


def _opened(checkout: Checkout, opened: OpenedAttempt, now: datetime) -> None:
    failure = attempt_opened(checkout, opened, now)
    if failure is not None:
        checkout.payment_failed(
            failure, now=now, payment_id=opened.payment_id, attempt_id=opened.attempt_id
        )


async def retry_checkout(ctx: Context, uow: ConsultationUnit, cmd: RetryCheckout) -> Checkout:
    async with uow:
        checkout = await load_checkout(uow.checkouts, cmd.checkout_id, cmd.viewer, lock=True)
        now = ctx.clock()
        opened = await attempt_again(ctx.payments, checkout, cmd.method, now=now)
        _opened(checkout, opened, now)
        await uow.checkouts.save(checkout)
        await uow.commit()
        return checkout


async def _locked(
    ctx: Context, uow: ConsultationUnit, checkout_id: str, happened_at: datetime
) -> Checkout | None:
    """The checkout, locked; None for one that was never stored."""
    checkout = await uow.checkouts.get(checkout_id, for_update=True)
    if checkout is None:
        wait = ctx.settings.unknown_checkout_after
        ensure_was_stored(checkout_id, happened_at=happened_at, now=ctx.clock(), wait=wait)
    return checkout


async def payment_confirmed(ctx: Context, uow: ConsultationUnit, news: PaymentConfirmed) -> None:
    """A paid checkout opens its clinical session, and nothing else; a checkout that can
    no longer be honoured (the chosen doctor left, a wrong amount) is refunded in full."""
    payment = news.payment
    async with uow:
        checkout = await _locked(ctx, uow, news.checkout_id, payment.confirmed_at)
        if checkout is None:
            kind = Checkout.PURCHASE_KIND
            refund_unknown_checkout(uow, kind, news.checkout_id, payment.payment_id, ctx.clock())
            await uow.commit()
            return
        doctor = await uow.doctors.get(checkout.doctor_id) if checkout.doctor_id else None
        session = checkout.payment_confirmed(
            payment,
            doctor=doctor,
            clinical_session_id=derived_id("clinical-session", checkout.id),
            now=ctx.clock(),
            session_ttl=ctx.settings.session_ttl,
        )
        if session is not None:
            await uow.clinical_sessions.save(session)
        await uow.checkouts.save(checkout)
        uow.publish(checkout, session, correlation_id=checkout.id)
        await uow.commit()


async def purchase_voided(ctx: Context, uow: ConsultationUnit, news: PurchaseVoided) -> None:
    """Payment took the money back on its own (an early fraud warning). What was bought
    and not yet held ends, asking no refund: a session still awaiting symptoms expires, a
    consultation untaken or under way ends as refunded. A completed consultation was held
    and stays; the log says so. A checkout not yet answered opens nothing later."""
    async with uow:
        checkout = await _locked(ctx, uow, news.checkout_id, news.voided_at)
        if checkout is None:
            return  # never stored: nothing was bought, and the refund is payment's
        answered = checkout.purchase_voided(news.payment_id, ctx.clock())
        await uow.checkouts.save(checkout)
        if answered and checkout.clinical_session_id is not None:
            await _end_what_was_bought(uow, checkout.clinical_session_id, news)
        await uow.commit()


async def _end_what_was_bought(
    uow: ConsultationUnit, session_id: str, news: PurchaseVoided
) -> None:
    session = await uow.clinical_sessions.get(session_id, for_update=True)
    if session is None:
        return
    if session.voided():
        await uow.clinical_sessions.save(session)
    if session.consultation_id is None:
        return
    consultation = await uow.consultations.get(session.consultation_id, for_update=True)
    if consultation is None:
        return
    if consultation.voided():
        await uow.consultations.save(consultation)
    else:
        log.warning(
            "payment %s was voided (%s) after consultation %s was held; it stays",
            news.payment_id,
            news.reason,
            consultation.id,
        )


async def payment_failed(ctx: Context, uow: ConsultationUnit, news: PaymentFailed) -> None:
    async with uow:
        checkout = await _locked(ctx, uow, news.checkout_id, news.failed_at)
        if checkout is None:
            return  # a checkout never stored has nothing to fail
        checkout.payment_failed(
            news.failure, now=ctx.clock(), payment_id=news.payment_id, attempt_id=news.attempt_id
        )
        await uow.checkouts.save(checkout)
        await uow.commit()


async def payment_expired(ctx: Context, uow: ConsultationUnit, news: PaymentExpired) -> None:
    """The payment ran out unpaid."""
    async with uow:
        checkout = await _locked(ctx, uow, news.checkout_id, news.expired_at)
        if checkout is None:
            return
        checkout.expire(ctx.clock())
        await uow.checkouts.save(checkout)
        await uow.commit()


async def expire_checkout(ctx: Context, uow: ConsultationUnit, cmd: ExpireCheckout) -> None:
    """A checkout past its expiry ends, as if payment had said so."""
    await payment_expired(ctx, uow, PaymentExpired(cmd.checkout_id, ctx.clock()))


async def expire_lapsed_checkouts(ctx: Context) -> None:
    """The job: every open checkout past its expiry ends."""

    def lapsed(uow: ConsultationUnit):
        return uow.checkouts.open_past_expiry(ctx.clock(), ctx.settings.batch)

    await sweep(ctx, lapsed, expire_checkout, ExpireCheckout, "expire checkout")
