"""BookingService over gRPC: request → command → handler → response.

Who may call what is the access map at the bottom; which checkouts and reservations a
caller may see follows from the verified caller (a patient their own, a doctor theirs,
admins and services all), and anything else is NOT_FOUND.
"""

from __future__ import annotations

from datetime import datetime
from types import ModuleType
from typing import ClassVar, TypeVar

from google.protobuf.message import Message
from nobat.booking.v1 import booking_service_pb2 as pb
from nobat.booking.v1 import booking_service_pb2_grpc

from purchasing.servicer import CheckoutCalls
from runtime import auth, errors
from runtime.handling import Handlers
from runtime.idempotency import answer_call
from runtime.rpc import ErrorDetails
from runtime.text import multi_line
from runtime.wire import (
    PageRequest,
    id_from,
    money_from,
    timestamp_or_none,
)
from services.booking.adapters.messages import (
    availability_message,
    checkout_message,
    date_from,
    doctor_message,
    method_from,
    reservation_message,
    reservation_status_from,
    slot_held_message,
    slot_length_from,
    slot_message,
    slot_status_from,
    windows_from,
)
from services.booking.domain.cancellation import CancelledBy
from services.booking.domain.errors import SlotAlreadyHeld
from services.booking.domain.schedule import WeeklyAvailability
from services.booking.handlers import COMMANDS, checkouts, doctors, reservations, views
from services.booking.handlers.context import Context

R = TypeVar("R", bound=Message)

PATIENT, DOCTOR, ADMIN = auth.PATIENT, auth.DOCTOR, auth.ADMIN
MAX_TEXT = 500


def _reservation_viewer() -> reservations.Viewer:
    caller = auth.current_caller()
    if caller.is_(PATIENT):
        return reservations.Viewer(patient_id=caller.subject)
    if caller.is_(DOCTOR):
        return reservations.Viewer(doctor_id=caller.subject)
    return reservations.Viewer()


def _text(value: str, field: str, *, required: bool = False, limit: int = MAX_TEXT) -> str:
    if required and not value.strip():
        raise errors.InvalidArgument(field, "is required")
    if len(value) > limit:
        raise errors.InvalidArgument(field, f"must be at most {limit} characters")
    return value


class BookingServicer(CheckoutCalls, booking_service_pb2_grpc.BookingServiceServicer):
    protos: ClassVar[ModuleType] = pb
    views: ClassVar[ModuleType] = views
    checkout_message = staticmethod(checkout_message)

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.handle = Handlers(ctx, COMMANDS)

    async def CreateDoctor(
        self, request: pb.CreateDoctorRequest, context
    ) -> pb.CreateDoctorResponse:
        command = doctors.CreateDoctor(
            doctor_id=_text(request.doctor_id, "doctor_id", required=True, limit=128),
            display_name=_text(request.display_name, "display_name", required=True),
            specialty=_text(request.specialty, "specialty", required=True),
            time_zone=request.time_zone,
            appointment_fee=money_from(
                request.appointment_fee, "appointment_fee", zero_allowed=True
            ),
        )

        async def answer(uow) -> pb.CreateDoctorResponse:
            doctor = await self.handle(command, uow)
            return pb.CreateDoctorResponse(doctor=doctor_message(doctor))

        return await answer_call(
            self.ctx.unit_of_work(), "CreateDoctor", request, pb.CreateDoctorResponse, answer
        )

    async def UpdateDoctor(
        self, request: pb.UpdateDoctorRequest, context
    ) -> pb.UpdateDoctorResponse:
        paths = set(request.update_mask.paths)
        known = {"display_name", "specialty", "time_zone", "appointment_fee", "active"}
        if not paths or paths - known:
            raise errors.InvalidArgument(
                "update_mask", f"must name some of {', '.join(sorted(known))}"
            )
        given = request.doctor
        command = doctors.UpdateDoctor(
            doctor_id=given.id,
            display_name=_text(given.display_name, "doctor.display_name", required=True)
            if "display_name" in paths
            else None,
            specialty=_text(given.specialty, "doctor.specialty", required=True)
            if "specialty" in paths
            else None,
            time_zone=given.time_zone if "time_zone" in paths else None,
            appointment_fee=money_from(
                given.appointment_fee, "doctor.appointment_fee", zero_allowed=True
            )
            if "appointment_fee" in paths
            else None,
            active=given.active if "active" in paths else None,
        )

        async def answer(uow) -> pb.UpdateDoctorResponse:
            doctor = await self.handle(command, uow)
            return pb.UpdateDoctorResponse(doctor=doctor_message(doctor))

        return await answer_call(
            self.ctx.unit_of_work(), "UpdateDoctor", request, pb.UpdateDoctorResponse, answer
        )

    async def SetWeeklyAvailability(
        self, request: pb.SetWeeklyAvailabilityRequest, context
    ) -> pb.SetWeeklyAvailabilityResponse:
        command = doctors.SetWeeklyAvailability(
            doctor_id=request.doctor_id,
            availability=WeeklyAvailability(
                windows_from(request.windows), slot_length_from(request.slot_duration)
            ),
            first_date=date_from(request.first_date, "first_date"),
            last_date=date_from(request.last_date, "last_date"),
        )

        async def answer(uow) -> pb.SetWeeklyAvailabilityResponse:
            change = await self.handle(command, uow)
            return pb.SetWeeklyAvailabilityResponse(
                availability=await self._availability(uow, change.stored),
                slots_created=change.created,
                slots_removed=change.removed,
            )

        return await answer_call(
            self.ctx.unit_of_work(),
            "SetWeeklyAvailability",
            request,
            pb.SetWeeklyAvailabilityResponse,
            answer,
        )

    async def _availability(self, uow, stored) -> pb.WeeklyAvailability:
        doctor = await views.doctor(uow, stored.doctor_id)
        return availability_message(
            stored.doctor_id,
            doctor.time_zone,
            stored.availability,
            stored.first_date,
            stored.last_date,
        )

    async def GetWeeklyAvailability(
        self, request: pb.GetWeeklyAvailabilityRequest, context
    ) -> pb.GetWeeklyAvailabilityResponse:
        stored = await views.weekly_availability(self.ctx.unit_of_work(), request.doctor_id)
        return pb.GetWeeklyAvailabilityResponse(
            availability=await self._availability(self.ctx.unit_of_work(), stored)
        )

    async def GetDoctor(self, request: pb.GetDoctorRequest, context) -> pb.GetDoctorResponse:
        doctor = await views.doctor(self.ctx.unit_of_work(), request.doctor_id)
        if not doctor.active and not auth.current_caller().is_(ADMIN):
            raise doctors.DoctorNotFound(request.doctor_id)
        return pb.GetDoctorResponse(doctor=doctor_message(doctor))

    async def ListDoctors(self, request: pb.ListDoctorsRequest, context) -> pb.ListDoctorsResponse:
        if request.include_inactive and not auth.current_caller().is_(ADMIN):
            raise errors.PermissionDenied("only admins list inactive doctors")
        query = views.DoctorsQuery(request.specialty or None, request.include_inactive)
        page, token = await views.doctors(
            self.ctx.unit_of_work(), query, PageRequest.of(request, str)
        )
        return pb.ListDoctorsResponse(
            doctors=[doctor_message(d) for d in page], next_page_token=token
        )

    async def ListSlots(self, request: pb.ListSlotsRequest, context) -> pb.ListSlotsResponse:
        now = self.ctx.clock()
        query = views.SlotsQuery(
            doctor_id=request.doctor_id,
            starts_after=timestamp_or_none(request.starts_after, "starts_after") or now,
            starts_before=timestamp_or_none(request.starts_before, "starts_before"),
            status=slot_status_from(request.status),
            now=now,
        )
        doctor, page, token = await views.slots(
            self.ctx.unit_of_work(), query, PageRequest.of(request, datetime, str)
        )
        return pb.ListSlotsResponse(
            slots=[slot_message(s, now, doctor.appointment_fee) for s in page],
            next_page_token=token,
        )

    async def StartCheckout(
        self, request: pb.StartCheckoutRequest, context
    ) -> pb.StartCheckoutResponse:
        command = checkouts.StartCheckout(
            patient_id=auth.current_caller().subject,
            key=request.idempotency_key,
            slot_id=id_from(request.slot_id, "slot_id"),
            method=method_from(request.method),
            return_url=self.ctx.settings.return_urls.checked(request.return_url),
        )

        async def answer(uow) -> pb.StartCheckoutResponse:
            checkout = await self.handle(command, uow)
            return pb.StartCheckoutResponse(checkout=checkout_message(checkout))

        return await answer_call(
            self.ctx.unit_of_work(), "StartCheckout", request, pb.StartCheckoutResponse, answer
        )

    async def ListReservations(
        self, request: pb.ListReservationsRequest, context
    ) -> pb.ListReservationsResponse:
        viewer = _reservation_viewer()
        if (request.patient_id or request.doctor_id) and not auth.current_caller().is_(ADMIN):
            raise errors.PermissionDenied("only admins list another person's reservations")
        patient_id, doctor_id = viewer.listing(request.patient_id, request.doctor_id)
        query = views.ReservationsQuery(
            patient_id=patient_id,
            doctor_id=doctor_id,
            status=reservation_status_from(request.status),
            starts_after=timestamp_or_none(request.starts_after, "starts_after"),
            starts_before=timestamp_or_none(request.starts_before, "starts_before"),
        )
        page, token = await views.reservations(
            self.ctx.unit_of_work(), query, PageRequest.of(request, datetime, str)
        )
        return pb.ListReservationsResponse(
            reservations=[reservation_message(r) for r in page], next_page_token=token
        )

    async def GetReservation(
        self, request: pb.GetReservationRequest, context
    ) -> pb.GetReservationResponse:
        reservation = await views.reservation(
            self.ctx.unit_of_work(),
            id_from(request.reservation_id, "reservation_id"),
            _reservation_viewer(),
        )
        return pb.GetReservationResponse(reservation=reservation_message(reservation))

    async def CancelReservation(
        self, request: pb.CancelReservationRequest, context
    ) -> pb.CancelReservationResponse:
        caller = auth.current_caller()
        by = {PATIENT: CancelledBy.PATIENT, DOCTOR: CancelledBy.DOCTOR}.get(
            caller.role, CancelledBy.ADMIN
        )
        command = reservations.CancelReservation(
            reservation_id=id_from(request.reservation_id, "reservation_id"),
            by=by,
            reason=_text(request.reason, "reason"),
            viewer=_reservation_viewer(),
        )

        async def answer(uow) -> pb.CancelReservationResponse:
            reservation = await self.handle(command, uow)
            return pb.CancelReservationResponse(reservation=reservation_message(reservation))

        return await answer_call(
            self.ctx.unit_of_work(),
            "CancelReservation",
            request,
            pb.CancelReservationResponse,
            answer,
        )

    async def RescheduleReservation(
        self, request: pb.RescheduleReservationRequest, context
    ) -> pb.RescheduleReservationResponse:
        command = reservations.RescheduleReservation(
            patient_id=auth.current_caller().subject,
            key=request.idempotency_key,
            reservation_id=id_from(request.reservation_id, "reservation_id"),
            new_slot_id=id_from(request.new_slot_id, "new_slot_id"),
            method=method_from(request.method),
            return_url=self.ctx.settings.return_urls.checked(request.return_url),
        )

        async def answer(uow) -> pb.RescheduleReservationResponse:
            checkout = await self.handle(command, uow)
            return pb.RescheduleReservationResponse(checkout=checkout_message(checkout))

        return await answer_call(
            self.ctx.unit_of_work(),
            "RescheduleReservation",
            request,
            pb.RescheduleReservationResponse,
            answer,
        )


# No service calls booking: its RPCs serve the gateway's users.
EVERYONE = frozenset({PATIENT, DOCTOR, ADMIN})
ADMINS = frozenset({ADMIN})

ACCESS = {
    "CreateDoctor": ADMINS,
    "UpdateDoctor": ADMINS,
    "SetWeeklyAvailability": ADMINS,
    "GetWeeklyAvailability": frozenset({DOCTOR, ADMIN}),
    "GetDoctor": EVERYONE,
    "ListDoctors": EVERYONE,
    "ListSlots": EVERYONE,
    "StartCheckout": frozenset({PATIENT}),
    "GetCheckout": frozenset({PATIENT, ADMIN}),
    "RetryCheckout": frozenset({PATIENT}),
    "ListCheckouts": frozenset({PATIENT}),
    "ListReservations": frozenset({PATIENT, DOCTOR, ADMIN}),
    "GetReservation": EVERYONE,
    "CancelReservation": frozenset({PATIENT, DOCTOR, ADMIN}),
    "RescheduleReservation": frozenset({PATIENT}),
}

# The typed details a client reads off these errors.
DESCRIBED: ErrorDetails = {SlotAlreadyHeld: slot_held_message}

# The request fields a person writes in sentences, which may span lines (runtime.text);
# every other text is one line.
MULTI_LINE = multi_line(pb.CancelReservationRequest, "reason")
