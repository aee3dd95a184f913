"""Booking's repositories against a real PostgreSQL: every aggregate comes back as it was
saved, pages come in order and filter in SQL, and the schema refuses what must never be
stored however the handlers race (a double booking above all)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from purchasing.checkout import ConfirmedPayment, PaymentMethod
from runtime.money import Money
from services.booking.domain.cancellation import CancelledBy
from services.booking.domain.checkout import RefundReason, hold_slot
from services.booking.domain.doctor import Doctor
from services.booking.domain.reservation import Reservation, ReservationStatus
from services.booking.domain.schedule import (
    END_OF_DAY,
    AvailabilityWindow,
    StoredAvailability,
    Weekday,
    WeeklyAvailability,
)
from services.booking.domain.slot import Slot, SlotStatus
from tests.integration.booking.conftest import Transaction
from tests.integration.conftest import reload, store
from tests.unit.booking.builders import (
    CANCELED_FOR_GOOD,
    DECLINED,
    NOW,
    a_checkout,
    a_doctor,
    a_slot,
    confirm,
)

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def slot_of(doctor: Doctor, name: str, starts_in: timedelta) -> Slot:
    starts_at = NOW + starts_in
    return Slot(f"slot-{name}", doctor.id, starts_at, starts_at + 30 * MINUTE)


def booked(
    doctor: Doctor, name: str, starts_in: timedelta, patient_id: str = "patient-1"
) -> tuple[Slot, Reservation]:
    """A slot of `doctor` and its reservation, paid for through checkout-<name>."""
    slot = slot_of(doctor, name, starts_in)
    checkout = a_checkout(
        slot, checkout_id=f"checkout-{name}", patient_id=patient_id, doctor=doctor
    )
    reservation = confirm(checkout, slot, doctor=doctor)
    assert reservation is not None
    return slot, reservation


def another(reservation: Reservation, name: str, **changes: object) -> Reservation:
    """A second reservation like `reservation`, with its own checkout and payment."""
    own = {"id": f"reservation-{name}", "checkout_id": f"checkout-{name}"}
    return replace(reservation, **own | {"payment_id": f"payment-{name}"} | changes)


async def test_unknown_ids_load_as_none(transaction: Transaction):
    async with transaction() as db:
        assert await db.doctors.get("nobody") is None
        assert await db.availabilities.get("nobody") is None
        assert await db.slots.get("nowhere") is None
        assert await db.checkouts.get("nothing") is None
        assert await db.reservations.get("nothing") is None


async def test_a_doctor_comes_back_as_saved_and_saving_again_updates_it(
    transaction: Transaction,
):
    doctor = a_doctor()
    await store(transaction, doctor)
    assert await reload(transaction, doctor) == [doctor]

    doctor.update(now=NOW, appointment_fee=Money(300_000, "IRR"), active=False)
    await store(transaction, doctor)
    [loaded] = await reload(transaction, doctor)
    assert loaded == doctor
    assert loaded.events == []


async def test_doctors_page_by_id_within_a_specialty_hiding_the_inactive_unless_asked(
    transaction: Transaction,
):
    cardiologists = [a_doctor(doctor_id=f"doctor-{n}") for n in "bdac"]
    cardiologists[3].update(now=NOW, active=False)
    dermatologist = a_doctor(doctor_id="doctor-e", specialty="dermatology")
    await store(transaction, *cardiologists, dermatologist)

    async def ids(**query) -> list[str]:
        query = {"specialty": None, "include_inactive": False, "after": None, "limit": 10} | query
        async with transaction() as db:
            return [doctor.id for doctor in await db.doctors.page(**query)]

    assert await ids() == ["doctor-a", "doctor-b", "doctor-d", "doctor-e"]
    assert await ids(specialty="cardiology") == ["doctor-a", "doctor-b", "doctor-d"]
    assert await ids(specialty="cardiology", include_inactive=True) == [
        "doctor-a",
        "doctor-b",
        "doctor-c",
        "doctor-d",
    ]
    assert await ids(after="doctor-a", limit=2) == ["doctor-b", "doctor-d"]
    # Only None is "any specialty": a blank one is a specialty nobody has.
    assert await ids(specialty="") == []


async def test_an_availability_comes_back_with_its_windows_to_midnight_and_its_dates(
    transaction: Transaction,
):
    doctor = a_doctor()
    await store(transaction, doctor)
    weekly = WeeklyAvailability(
        (
            AvailabilityWindow(Weekday.SUNDAY, time(9, 0), time(12, 30)),
            AvailabilityWindow(Weekday.MONDAY, time(0, 0), time(0, 45)),
            AvailabilityWindow(Weekday.MONDAY, time(22, 15), END_OF_DAY),
        ),
        slot_length=15 * MINUTE,
    )
    narrower = WeeklyAvailability(weekly.windows[:1], slot_length=90 * MINUTE)

    async with transaction() as db:
        await db.availabilities.save(doctor.id, weekly, date(2025, 3, 1), date(2025, 3, 31), NOW)
    async with transaction() as db:
        assert await db.availabilities.get(doctor.id) == StoredAvailability(
            doctor.id, weekly, date(2025, 3, 1), date(2025, 3, 31)
        )
        await db.availabilities.save(doctor.id, narrower, date(2025, 4, 1), date(2025, 4, 1), NOW)
    async with transaction() as db:
        assert await db.availabilities.get(doctor.id) == StoredAvailability(
            doctor.id, narrower, date(2025, 4, 1), date(2025, 4, 1)
        )


async def test_a_slot_comes_back_as_saved_free_held_booked_freed_and_withdrawn(
    transaction: Transaction,
):
    await store(transaction, a_doctor())
    slot = a_slot()
    states = []
    for change in (
        lambda: None,
        lambda: slot.take_hold(checkout_id="checkout-1", patient_id="p-1", now=NOW, ttl=HOUR),
        lambda: slot.book("reservation-1", "checkout-1", NOW),
        lambda: slot.free("reservation-1"),
        lambda: slot.withdraw(NOW),
    ):
        change()
        await store(transaction, slot)
        [loaded] = await reload(transaction, slot)
        states.append(loaded)
        assert loaded == slot

    assert [s.status(NOW) for s in states[:4]] == [
        SlotStatus.FREE,
        SlotStatus.HELD,
        SlotStatus.BOOKED,
        SlotStatus.FREE,
    ]
    assert states[-1].withdrawn


async def test_save_all_writes_thousands_of_slots_at_once_and_updates_those_it_finds(
    transaction: Transaction,
):
    await store(transaction, a_doctor())
    # More slots than PostgreSQL takes bound parameters per statement, nine a slot.
    generated = [a_slot(f"slot-{n:05}", starts_in=n * 5 * MINUTE) for n in range(1, 4001)]
    async with transaction() as db:
        await db.slots.save_all(generated)
        await db.slots.save_all([])

    generated[0].withdraw(NOW)
    generated[1].take_hold(checkout_id="checkout-1", patient_id="p-1", now=NOW, ttl=HOUR)
    added = a_slot("slot-added", starts_in=-DAY)
    async with transaction() as db:
        await db.slots.save_all([generated[0], generated[1], added])
    async with transaction() as db:
        everything = await db.slots.between("doctor-1", NOW - 2 * DAY, NOW + 30 * DAY)

    assert everything == [added, *generated]


async def test_between_gives_the_doctors_slots_starting_in_the_range_withdrawn_too(
    transaction: Transaction,
):
    doctor, other = a_doctor(), a_doctor(doctor_id="doctor-2")
    mine = [slot_of(doctor, f"{n}", starts_in=n * HOUR) for n in range(5)]
    mine[2].withdraw(NOW)
    theirs = slot_of(other, "other", starts_in=2 * HOUR)
    await store(transaction, doctor, other, *reversed(mine), theirs)

    async with transaction() as db:
        found = await db.slots.between(doctor.id, NOW + HOUR, NOW + 4 * HOUR, for_update=True)
    assert found == mine[1:4]


async def test_slots_page_by_start_within_bounds_and_never_show_withdrawn_ones(
    transaction: Transaction,
):
    doctor = a_doctor()
    slots = [slot_of(doctor, f"{n}", starts_in=n * HOUR) for n in range(8)]
    slots[3].withdraw(NOW)
    await store(transaction, doctor, *reversed(slots))

    pages: list[list[str]] = []
    after = None
    while True:
        async with transaction() as db:
            page = await db.slots.page(
                doctor_id=doctor.id,
                starts_after=NOW + HOUR,
                starts_before=NOW + 7 * HOUR,
                status=None,
                now=NOW,
                after=after,
                limit=2,
            )
        if not page:
            break
        pages.append([slot.id for slot in page])
        after = (page[-1].starts_at, page[-1].id)

    assert pages == [["slot-1", "slot-2"], ["slot-4", "slot-5"], ["slot-6"]]


async def test_the_slot_status_filter_is_the_status_at_now_and_a_lapsed_hold_counts_as_free(
    transaction: Transaction,
):
    doctor = a_doctor()
    free, held, lapsed, booked_slot = (
        slot_of(doctor, name, starts_in=n * DAY)
        for n, name in enumerate(("free", "held", "lapsed", "booked"), start=1)
    )
    held.take_hold(checkout_id="checkout-h", patient_id="p-1", now=NOW, ttl=HOUR)
    lapsed.take_hold(checkout_id="checkout-l", patient_id="p-2", now=NOW - 2 * HOUR, ttl=HOUR)
    booked_slot.book("reservation-b", "checkout-b", NOW)
    await store(transaction, doctor, free, held, lapsed, booked_slot)

    async def ids(status: SlotStatus | None, now=NOW) -> list[str]:
        async with transaction() as db:
            page = await db.slots.page(
                doctor_id=doctor.id,
                starts_after=None,
                starts_before=None,
                status=status,
                now=now,
                after=None,
                limit=10,
            )
        return [slot.id for slot in page]

    assert await ids(SlotStatus.FREE) == ["slot-free", "slot-lapsed"]
    assert await ids(SlotStatus.HELD) == ["slot-held"]
    assert await ids(SlotStatus.BOOKED) == ["slot-booked"]
    assert await ids(None) == ["slot-free", "slot-held", "slot-lapsed", "slot-booked"]
    # The hold ends at its expiry: from then on the slot is free again.
    assert await ids(SlotStatus.HELD, now=NOW + HOUR) == []
    assert await ids(SlotStatus.FREE, now=NOW + HOUR) == ["slot-free", "slot-held", "slot-lapsed"]


async def test_a_checkout_comes_back_as_saved_in_every_state(transaction: Transaction):
    doctor = a_doctor()
    slots = [a_slot(f"slot-{n}", starts_in=n * DAY) for n in range(1, 9)]
    awaiting, failed, abandoned, retried, expired, confirmed, refunded, moving = (
        a_checkout(slot, checkout_id=f"checkout-{slot.id}", method=PaymentMethod.WALLET)
        for slot in slots
    )
    failed.attempt_failed(DECLINED, slot=slots[1], now=NOW + MINUTE)
    abandoned.attempt_failed(CANCELED_FOR_GOOD, slot=slots[2], now=NOW + MINUTE)
    retried.attempt_failed(DECLINED, slot=slots[3], now=NOW + MINUTE)
    retried.retry(NOW + 2 * MINUTE, PaymentMethod.GATEWAY)
    expired.lapse(slot=slots[4], now=NOW + HOUR)
    confirm(confirmed, slots[5])
    short = ConfirmedPayment(f"payment-{refunded.id}", Money(1, "IRR"), NOW)
    confirm(refunded, slots[6], short)
    for late in ("payment-late-2", "payment-late-1"):
        confirm(refunded, slots[6], ConfirmedPayment(late, refunded.price, NOW))
    moving.rescheduled_reservation_id = "reservation-earlier"
    checkouts = [awaiting, failed, abandoned, retried, expired, confirmed, refunded, moving]
    await store(transaction, doctor, *slots, *checkouts)

    loaded = await reload(transaction, *checkouts)

    assert loaded == checkouts
    assert (failed.payment_failure, abandoned.payment_failure) == (DECLINED, CANCELED_FOR_GOOD)
    assert (retried.attempt, retried.method) == (2, PaymentMethod.GATEWAY)
    assert confirmed.reservation_id is not None
    assert refunded.refund_reason is RefundReason.AMOUNT_MISMATCH
    assert refunded.duplicate_payment_ids == ("payment-late-2", "payment-late-1")
    assert confirmed.events and all(checkout.events == [] for checkout in loaded)


async def test_open_past_hold_lists_the_open_checkouts_whose_hold_lapsed_longest_lapsed_first(
    transaction: Transaction,
):
    doctor = a_doctor()
    slots = [a_slot(f"slot-{n}", starts_in=n * DAY) for n in range(1, 6)]
    # Holds last ten minutes from each checkout's start.
    lapsed_late, lapsed_early, still_held, settled, expired = (
        a_checkout(slot, checkout_id=f"checkout-{name}", now=NOW + started)
        for slot, name, started in zip(
            slots,
            ("lapsed-late", "lapsed-early", "still-held", "settled", "expired"),
            (10 * MINUTE, 0 * MINUTE, 30 * MINUTE, 0 * MINUTE, 0 * MINUTE),
            strict=True,
        )
    )
    lapsed_early.attempt_failed(DECLINED, slot=slots[1], now=NOW + MINUTE)
    confirm(settled, slots[3])
    expired.lapse(slot=slots[4], now=NOW + MINUTE)
    await store(
        transaction, doctor, *slots, lapsed_late, lapsed_early, still_held, settled, expired
    )

    async with transaction() as db:
        due = await db.checkouts.open_past_hold(NOW + 20 * MINUTE, limit=10)
        first = await db.checkouts.open_past_hold(NOW + 20 * MINUTE, limit=1)
        none_yet = await db.checkouts.open_past_hold(NOW + 10 * MINUTE - MINUTE, limit=10)

    assert due == ["checkout-lapsed-early", "checkout-lapsed-late"]
    assert first == ["checkout-lapsed-early"]
    assert none_yet == []


async def test_a_reservation_comes_back_confirmed_cancelled_and_rescheduled_from_another(
    transaction: Transaction,
):
    doctor = a_doctor()
    old_slot, old = booked(doctor, "old", starts_in=3 * DAY)
    cancelled_slot, cancelled = booked(doctor, "cancelled", 4 * DAY)
    cancelled.cancel(by=CancelledBy.PATIENT, reason="feeling better", slot=cancelled_slot, now=NOW)
    new_slot = slot_of(doctor, "new", starts_in=5 * DAY)
    moving = hold_slot(
        checkout_id="checkout-new",
        slot=new_slot,
        doctor=doctor,
        patient_id="patient-1",
        method=PaymentMethod.WALLET,
        now=NOW,
        rescheduling=old,
    )
    new = confirm(moving, new_slot, ConfirmedPayment("payment-new", moving.price, NOW))
    assert new is not None
    old.replaced_by(new, slot=old_slot, requested_at=NOW, now=NOW + MINUTE)
    await store(transaction, doctor, old_slot, cancelled_slot, new_slot, old, cancelled, new)

    loaded = await reload(transaction, old, cancelled, new)

    assert loaded == [old, cancelled, new]
    assert cancelled.cancellation is not None
    assert cancelled.cancellation.refund == cancelled.price
    assert old.status is ReservationStatus.CANCELLED
    assert new.rescheduled_from_reservation_id == old.id
    assert all(reservation.events == [] for reservation in loaded)


async def test_reservations_page_by_start_then_id_for_a_patient_or_a_doctor(
    transaction: Transaction,
):
    first, second = a_doctor(), a_doctor(doctor_id="doctor-2")
    made = {
        name: booked(doctor, name, starts_in, patient_id)
        for name, doctor, starts_in, patient_id in (
            ("a", first, 3 * DAY, "patient-1"),
            ("b", second, 3 * DAY, "patient-2"),
            ("c", first, 1 * DAY, "patient-2"),
            ("d", second, 2 * DAY, "patient-1"),
            ("e", first, 4 * DAY, "patient-1"),
        )
    }
    slots = [slot for slot, _ in made.values()]
    by_name = {name: reservation for name, (_, reservation) in made.items()}
    by_name["e"].cancel(by=CancelledBy.DOCTOR, reason="ill", slot=made["e"][0], now=NOW)
    await store(transaction, first, second, *slots, *by_name.values())

    async def names(limit: int = 10, **query) -> list[str]:
        query = {
            "patient_id": None,
            "doctor_id": None,
            "status": None,
            "starts_after": None,
            "starts_before": None,
            "after": None,
        } | query
        async with transaction() as db:
            page = await db.reservations.page(limit=limit, **query)
        return [reservation.checkout_id.removeprefix("checkout-") for reservation in page]

    # "a" and "b" start together: the id settles their order, and the cursor with it.
    assert await names() == ["c", "d", "a", "b", "e"]
    assert await names(patient_id="patient-1") == ["d", "a", "e"]
    assert await names(doctor_id="doctor-2") == ["d", "b"]
    # Only None is "anyone's": a blank patient or doctor is nobody.
    assert await names(patient_id="") == [] == await names(doctor_id="")
    assert await names(patient_id="patient-1", status=ReservationStatus.CONFIRMED) == ["d", "a"]
    assert await names(status=ReservationStatus.CANCELLED) == ["e"]
    assert await names(starts_after=NOW + 2 * DAY, starts_before=NOW + 4 * DAY) == [
        "d",
        "a",
        "b",
    ]
    a = by_name["a"]
    assert await names(limit=2, after=(a.starts_at, a.id)) == ["b", "e"]


async def test_the_database_refuses_a_second_confirmed_reservation_for_one_slot(
    transaction: Transaction,
):
    doctor = a_doctor()
    slot, reservation = booked(doctor, "1", 3 * DAY)
    await store(transaction, doctor, slot, reservation)

    with pytest.raises(IntegrityError, match="reservations_one_active_per_slot"):
        await store(transaction, another(reservation, "2"))


async def test_a_slot_cancelled_out_of_its_reservation_may_be_booked_again(
    transaction: Transaction,
):
    doctor = a_doctor()
    slot, first = booked(doctor, "1", 3 * DAY)
    await store(transaction, doctor, slot, first)
    first.cancel(by=CancelledBy.ADMIN, reason="duplicate", slot=slot, now=NOW)
    second = another(first, "2", status=ReservationStatus.CONFIRMED, cancellation=None)
    await store(transaction, first, second)

    assert await reload(transaction, first, second) == [first, second]


async def test_the_database_refuses_a_second_reservation_for_one_payment(
    transaction: Transaction,
):
    doctor = a_doctor()
    slot, reservation = booked(doctor, "1", 3 * DAY)
    other_slot = slot_of(doctor, "2", 4 * DAY)
    await store(transaction, doctor, slot, other_slot, reservation)

    twice_paid = another(reservation, "2", slot_id=other_slot.id, payment_id=reservation.payment_id)
    with pytest.raises(IntegrityError, match="payment_id"):
        await store(transaction, twice_paid)


async def test_the_database_refuses_two_slots_of_one_doctor_starting_together(
    transaction: Transaction,
):
    doctor, other = a_doctor(), a_doctor(doctor_id="doctor-2")
    slot = slot_of(doctor, "1", DAY)
    await store(transaction, doctor, other, slot, replace(slot, id="slot-2", doctor_id=other.id))

    twin = replace(slot, id="slot-3", ends_at=slot.ends_at + HOUR)
    for save in (lambda db: db.slots.save(twin), lambda db: db.slots.save_all([twin])):
        with pytest.raises(IntegrityError, match="slots_one_per_doctor_and_start"):
            async with transaction() as db:
                await save(db)


async def _stored_checkout(transaction: Transaction):
    doctor = a_doctor()
    slot = slot_of(doctor, "a", HOUR)
    checkout = a_checkout(slot, doctor=doctor)
    await store(transaction, doctor, slot, checkout)
    return doctor, slot, checkout


async def test_a_checkout_is_found_with_its_slot_and_doctor_and_none_for_an_unknown_one(
    transaction: Transaction,
):
    doctor, slot, checkout = await _stored_checkout(transaction)

    async with transaction() as db:
        found = await db.slots.with_checkout(checkout.id)
        assert found is not None
        found_slot, found_checkout, found_doctor = found
        assert found_slot.id == slot.id and found_slot.status(NOW) is SlotStatus.HELD
        assert found_checkout == checkout
        assert found_doctor is not None and found_doctor.id == doctor.id
        assert await db.slots.with_checkout("checkout-never-stored") is None


async def test_what_is_found_with_a_checkout_and_saved_unchanged_is_not_written(
    transaction: Transaction,
):
    _, slot, checkout = await _stored_checkout(transaction)
    tables = {"slots": slot.id, "checkouts": checkout.id, "doctors": slot.doctor_id}
    before = {table: await _version(transaction, table, key) for table, key in tables.items()}

    async with transaction() as db:
        found = await db.slots.with_checkout(checkout.id)
        assert found is not None
        found_slot, found_checkout, found_doctor = found
        assert found_doctor is not None
        await db.slots.save(found_slot)
        await db.checkouts.save(found_checkout)
        await db.doctors.save(found_doctor)
        await db.commit()

    after = {table: await _version(transaction, table, key) for table, key in tables.items()}
    assert after == before


async def _version(transaction: Transaction, table: str, key: str) -> str:
    """The row's current version (xmin): it moves with every write of the row."""
    async with transaction() as db:
        found = await db.session.execute(
            text(f"SELECT xmin::text FROM {table} WHERE id = :id"), {"id": key}
        )
        return found.scalar_one()


async def test_saving_what_was_loaded_unchanged_writes_nothing(transaction: Transaction):
    doctor = a_doctor()
    await store(transaction, doctor)
    before = await _version(transaction, "doctors", doctor.id)

    async with transaction() as db:
        loaded = await db.doctors.get(doctor.id, for_update=True)
        await db.doctors.save(loaded)

    assert await _version(transaction, "doctors", doctor.id) == before


async def test_saving_writes_only_what_changed_so_another_writers_column_survives(
    transaction: Transaction,
):
    """A change the transaction did not make (here an operator's, mid-way) is not
    overwritten with the value the transaction loaded."""
    doctor = a_doctor()
    await store(transaction, doctor)

    async with transaction() as db:
        loaded = await db.doctors.get(doctor.id)
        async with transaction() as operator:
            await operator.session.execute(
                text("UPDATE doctors SET specialty = 'cardiology' WHERE id = :id"),
                {"id": doctor.id},
            )
        await db.doctors.save(replace(loaded, display_name="Dr. Renamed"))

    (again,) = await reload(transaction, doctor)
    assert (again.display_name, again.specialty) == ("Dr. Renamed", "cardiology")


async def test_a_voided_purchase_is_stored_as_the_database_allows_after_its_migrations(
    transaction: Transaction,
):
    doctor = a_doctor()
    reserved_slot, reserved = booked(doctor, "reserved", starts_in=3 * DAY)
    reserved.voided("fraud_warning", slot=reserved_slot, now=NOW)
    open_slot = slot_of(doctor, "open", starts_in=4 * DAY)
    unanswered = a_checkout(open_slot, checkout_id="checkout-unanswered")
    unanswered.purchase_voided(
        "payment-unanswered", "fraud_warning", slot=open_slot, reservation=None, now=NOW
    )
    await store(transaction, doctor, reserved_slot, open_slot, reserved, unanswered)

    loaded, checkout = await reload(transaction, reserved, unanswered)

    assert loaded.cancellation is not None
    assert loaded.cancellation.cancelled_by is CancelledBy.PAYMENT
    assert checkout.refund_reason is RefundReason.PURCHASE_VOIDED
