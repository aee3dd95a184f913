"""Notifications are optional (DESIGN.md, invariant 7): with the notification service
stopped, a patient books and pays exactly as usual; started again, it catches up on what
it missed from JetStream and delivers every notification of that flow exactly once."""

from __future__ import annotations

import asyncio
import signal

import pytest
from nobat.booking.v1 import booking_service_pb2 as bpb
from nobat.notification.v1 import notification_service_pb2 as pb
from nobat.notification.v1 import notification_service_pb2_grpc

from tests.component.notification.harness import TERMINAL
from tests.component.payment.harness import PaymentApi
from tests.e2e.flows import QUICK_JOBS, Nobat, running_stack
from tests.instants import NEW_YORK_FALL_BACK
from tests.processes import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(mailbox):
    with running_stack(
        NEW_YORK_FALL_BACK,
        **QUICK_JOBS,
        **mailbox.settings,
    ) as stack:
        yield stack


def notifications_of(nobat: Nobat, caller) -> PaymentApi:
    stub = notification_service_pb2_grpc.NotificationServiceStub(nobat.channel("notification"))
    return PaymentApi(stub, caller.metadata)


async def delivered(api: PaymentApi, count: int) -> list[pb.Notification]:
    found: list[pb.Notification] = []

    async def settled() -> bool:
        reply = await api.ListNotifications(pb.ListNotificationsRequest(page_size=100))
        found[:] = reply.notifications
        return len(found) >= count and all(
            d.status in TERMINAL for n in found for d in n.deliveries
        )

    await eventually(settled, 30, f"{count} notifications delivered")
    return found


async def test_booking_works_with_notification_stopped_and_it_catches_up_once(stack, mailbox):
    nobat = Nobat(stack)
    try:
        doctor_id = await nobat.new_doctor()
        patient, doctor = nobat.patient(), nobat.doctor(doctor_id)
        for caller, locale in ((patient, pb.LOCALE_FA), (doctor, pb.LOCALE_EN)):
            await nobat.register_email(caller, locale)

        stopped = stack.services["notification"].process
        stopped.send_signal(signal.SIGTERM)
        await asyncio.to_thread(stopped.wait, 20)

        [slot, *_] = await nobat.free_slots(doctor_id)
        _, confirmed = await nobat.declined_then_paid(patient, slot.id)
        reply = await patient.booking.ListReservations(bpb.ListReservationsRequest())
        [reservation] = reply.reservations
        assert reservation.id == confirmed.reservation_id and reservation.slot_id == slot.id
        assert stopped.poll() is not None, "the flow ran with notification stopped"

        await nobat.channels.pop("notification").close()
        stack.restart_service("notification", wait=False)
        await asyncio.to_thread(stack.wait_serving, stack.services["notification"])

        told = await delivered(notifications_of(nobat, patient), 2)
        assert sorted(n.kind for n in told) == [
            pb.NOTIFICATION_KIND_RESERVATION_CONFIRMED,
            pb.NOTIFICATION_KIND_PAYMENT_FAILED,
        ]
        [heard] = await delivered(notifications_of(nobat, doctor), 1)
        assert heard.subject_id == reservation.id
        everything = [*told, heard]
        assert [[(d.status, d.attempts) for d in n.deliveries] for n in everything] == [
            [(pb.DELIVERY_STATUS_DELIVERED, 1)]
        ] * 3
        await asyncio.sleep(1)  # room for a repeat to arrive
        mails = mailbox.to(f"{patient.subject}@example.com") + mailbox.to(
            f"{doctor.subject}@example.com"
        )
        assert sorted(m["Subject"] for m in mails) == sorted(n.title for n in everything)
    finally:
        await nobat.close()
