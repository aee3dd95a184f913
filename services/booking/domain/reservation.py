"""A reservation: one slot, one patient, backed by one confirmed payment.

It is only ever made by a checkout whose payment was confirmed for the right amount
(`Checkout.payment_confirmed`), so there is no "pending" reservation to clean up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from purchasing.events import Purchase, RefundRequested
from runtime.instants import require_utc
from runtime.money import Money
from services.booking.domain.cancellation import (
    DEFAULT_NOTICE_POLICY,
    CancelledBy,
    NoticePolicy,
    refund_due,
)
from services.booking.domain.errors import AppointmentAlreadyStarted, ReservationAlreadyCancelled
from services.booking.domain.events import (
    PURCHASE_KIND,
    ReservationCancelled,
    ReservationConfirmed,
)
from services.booking.domain.slot import Slot

RESCHEDULED = "rescheduled"


class ReservationStatus(Enum):
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Cancellation:
    cancelled_by: CancelledBy
    reason: str
    refund: Money
    cancelled_at: datetime


@dataclass
class Reservation:
    id: str
    slot_id: str
    doctor_id: str
    patient_id: str
    starts_at: datetime
    ends_at: datetime
    price: Money
    checkout_id: str
    payment_id: str
    confirmed_at: datetime
    status: ReservationStatus = ReservationStatus.CONFIRMED
    cancellation: Cancellation | None = None
    rescheduled_from_reservation_id: str | None = None
    events: list[object] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("starts_at", "ends_at", "confirmed_at"):
            require_utc(getattr(self, name), name)

    @classmethod
    def confirm(
        cls,
        *,
        reservation_id: str,
        slot: Slot,
        patient_id: str,
        price: Money,
        checkout_id: str,
        payment_id: str,
        rescheduled_from_reservation_id: str | None,
        now: datetime,
    ) -> Reservation:
        reservation = cls(
            id=reservation_id,
            slot_id=slot.id,
            doctor_id=slot.doctor_id,
            patient_id=patient_id,
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            price=price,
            checkout_id=checkout_id,
            payment_id=payment_id,
            confirmed_at=now,
            rescheduled_from_reservation_id=rescheduled_from_reservation_id,
        )
        reservation.events.append(
            ReservationConfirmed(
                reservation_id=reservation_id,
                checkout_id=checkout_id,
                payment_id=payment_id,
                slot_id=slot.id,
                doctor_id=slot.doctor_id,
                patient_id=patient_id,
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                price=price,
                rescheduled_from_reservation_id=rescheduled_from_reservation_id,
                confirmed_at=now,
            )
        )
        return reservation

    @property
    def is_active(self) -> bool:
        return self.status is ReservationStatus.CONFIRMED

    def ensure_patient_may_change(self, now: datetime) -> None:
        """A patient may cancel or move an active reservation until its slot starts."""
        if not self.is_active:
            raise ReservationAlreadyCancelled(self.id)
        if now >= self.starts_at:
            raise AppointmentAlreadyStarted(self.id, self.starts_at)

    def cancel(
        self,
        *,
        by: CancelledBy,
        reason: str,
        slot: Slot,
        now: datetime,
        policy: NoticePolicy = DEFAULT_NOTICE_POLICY,
    ) -> Cancellation:
        """Cancel and free the slot; the refund follows `policy` for the patient, else full.

        A doctor or an admin may cancel even after the start (a doctor who did not come);
        the patient only before it.
        """
        if by is CancelledBy.PATIENT:
            self.ensure_patient_may_change(now)
        elif not self.is_active:
            raise ReservationAlreadyCancelled(self.id)
        refund = refund_due(self.price, by, self.starts_at - now, policy)
        return self._cancel(by, reason, refund, "reservation_cancelled", slot, now)

    def replaced_by(
        self,
        new: Reservation,
        *,
        slot: Slot,
        requested_at: datetime,
        now: datetime,
        policy: NoticePolicy = DEFAULT_NOTICE_POLICY,
    ) -> Cancellation | None:
        """The reschedule's new reservation is confirmed: cancel this one, the one it replaces.

        It counts as the patient's cancellation, refunded by `policy` for the notice they gave
        when they asked to move (`requested_at`, the checkout's start), so a slow payment
        does not cost them a tier, and moving an appointment is no way round the policy.
        Nothing happens if this one was cancelled meanwhile; the new one then stands alone.
        """
        if new.rescheduled_from_reservation_id != self.id or new.patient_id != self.patient_id:
            raise ValueError(f"reservation {new.id} does not reschedule {self.id}")
        if not self.is_active:
            return None
        refund = refund_due(self.price, CancelledBy.PATIENT, self.starts_at - requested_at, policy)
        return self._cancel(
            CancelledBy.PATIENT, RESCHEDULED, refund, "reservation_rescheduled", slot, now
        )

    def voided(self, reason: str, *, slot: Slot, now: datetime) -> Cancellation | None:
        """Payment gave the whole price back on its own initiative (`reason`, such as
        "fraud_warning"): cancel and free the slot, whether or not the appointment began,
        and ask for no refund, the money being on its way back already. Nothing happens to
        a reservation cancelled before: its own refund asked for what was due, and
        payment's gave back the rest."""
        if not self.is_active:
            return None
        return self._cancel(CancelledBy.PAYMENT, reason, self.price, None, slot, now)

    def _cancel(
        self,
        by: CancelledBy,
        reason: str,
        refund: Money,
        # The RefundRequested reason; None when payment refunds without being asked.
        refund_reason: str | None,
        slot: Slot,
        now: datetime,
    ) -> Cancellation:
        self.status = ReservationStatus.CANCELLED
        self.cancellation = Cancellation(by, reason, refund, now)
        slot.free(self.id)
        self.events.append(
            ReservationCancelled(
                reservation_id=self.id,
                payment_id=self.payment_id,
                slot_id=self.slot_id,
                doctor_id=self.doctor_id,
                patient_id=self.patient_id,
                starts_at=self.starts_at,
                cancelled_by=by,
                reason=reason,
                refund=refund,
                cancelled_at=now,
            )
        )
        if refund.amount_minor and refund_reason is not None:
            self.events.append(
                RefundRequested(
                    idempotency_key=f"cancel:{self.id}",
                    payment_id=self.payment_id,
                    purchase=Purchase(PURCHASE_KIND, self.checkout_id),
                    amount=refund,
                    reason=refund_reason,
                    requested_at=now,
                )
            )
        return self.cancellation
