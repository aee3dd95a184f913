"""ConsultationService over gRPC: request → command → handler → response.

The caller handed to the handlers carries the client's address and agent from the call,
for the audit log. Who may call what is the access map at the bottom; whose clinical
data a caller may see is the domain's rule (the patient, the assigned doctor, staff).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from types import ModuleType
from typing import ClassVar, TypeVar

from google.protobuf.message import Message
from nobat.consultation.v1 import consultation_service_pb2 as pb
from nobat.consultation.v1 import consultation_service_pb2_grpc

from purchasing.servicer import CheckoutCalls
from runtime import auth, errors
from runtime.handling import Handlers
from runtime.idempotency import Idempotent, answer_call
from runtime.text import multi_line
from runtime.wire import PageRequest, id_from
from services.consultation.adapters.messages import (
    audit_entry_message,
    chat_message,
    checkout_message,
    clinical_session_message,
    clinical_session_status_from,
    consultation_message,
    consultation_status_from,
    consultation_type_from,
    doctor_id_from,
    doctor_shifts_message,
    doctor_shifts_set_message,
    intake_message,
    intake_request_from,
    method_from,
    optional_id_from,
    prices_from,
    prices_set_message,
    shifts_from,
    submission_from,
)
from services.consultation.domain.caller import Caller, Role
from services.consultation.handlers import COMMANDS, clinical, purchases, views
from services.consultation.handlers.context import Context

R = TypeVar("R", bound=Message)
PATIENT, DOCTOR, ADMIN = auth.PATIENT, auth.DOCTOR, auth.ADMIN


def _caller(context) -> Caller:
    verified = auth.current_caller()
    return Caller(verified.subject, Role(verified.role), *auth.call_origin(context))


class ConsultationServicer(
    CheckoutCalls, consultation_service_pb2_grpc.ConsultationServiceServicer
):
    protos: ClassVar[ModuleType] = pb
    views: ClassVar[ModuleType] = views
    checkout_message = staticmethod(checkout_message)

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.handle = Handlers(ctx, COMMANDS)

    async def StartIntake(self, request: pb.StartIntakeRequest, context) -> pb.StartIntakeResponse:
        asked = intake_request_from(request)
        command = purchases.StartIntake(
            _caller(context),
            request.idempotency_key,
            asked.complaint,
            asked.symptoms,
            asked.age_years,
            asked.sex,
        )

        async def answer(uow) -> pb.StartIntakeResponse:
            intake = await self.handle(command, uow)
            return pb.StartIntakeResponse(intake=intake_message(intake))

        return await answer_call(
            self.ctx.unit_of_work(), "StartIntake", request, pb.StartIntakeResponse, answer
        )

    async def StartCheckout(
        self, request: pb.StartCheckoutRequest, context
    ) -> pb.StartCheckoutResponse:
        command = purchases.StartCheckout(
            patient_id=auth.current_caller().subject,
            key=request.idempotency_key,
            intake_id=id_from(request.intake_id, "intake_id"),
            type=consultation_type_from(request.type),
            doctor_id=doctor_id_from(request.doctor_id),
            method=method_from(request.method),
            return_url=self.ctx.settings.return_urls.checked(request.return_url),
        )

        async def answer(uow) -> pb.StartCheckoutResponse:
            checkout = await self.handle(command, uow)
            return pb.StartCheckoutResponse(checkout=checkout_message(checkout))

        return await answer_call(
            self.ctx.unit_of_work(), "StartCheckout", request, pb.StartCheckoutResponse, answer
        )

    async def GetClinicalSession(
        self, request: pb.GetClinicalSessionRequest, context
    ) -> pb.GetClinicalSessionResponse:
        session = await views.clinical_session(
            self.ctx,
            self.ctx.unit_of_work(),
            id_from(request.clinical_session_id, "clinical_session_id"),
            _caller(context),
        )
        return pb.GetClinicalSessionResponse(clinical_session=clinical_session_message(session))

    async def SubmitSymptoms(
        self, request: pb.SubmitSymptomsRequest, context
    ) -> pb.SubmitSymptomsResponse:
        submitted = submission_from(request)
        command = clinical.SubmitSymptoms(
            _caller(context),
            submitted.clinical_session_id,
            submitted.details,
            submitted.symptoms,
        )

        async def answer(uow) -> pb.SubmitSymptomsResponse:
            consultation = await self.handle(command, uow)
            return pb.SubmitSymptomsResponse(consultation=consultation_message(consultation))

        return await answer_call(
            self.ctx.unit_of_work(), "SubmitSymptoms", request, pb.SubmitSymptomsResponse, answer
        )

    async def GetConsultation(
        self, request: pb.GetConsultationRequest, context
    ) -> pb.GetConsultationResponse:
        consultation = await views.consultation(
            self.ctx,
            self.ctx.unit_of_work(),
            id_from(request.consultation_id, "consultation_id"),
            _caller(context),
        )
        return pb.GetConsultationResponse(consultation=consultation_message(consultation))

    async def ListConsultations(
        self, request: pb.ListConsultationsRequest, context
    ) -> pb.ListConsultationsResponse:
        caller = _caller(context)
        asked = PageRequest.of(request, datetime, str)
        query = views.ConsultationsQuery(
            patient_id=caller.id if caller.role is Role.PATIENT else None,
            doctor_id=caller.id if caller.role is Role.DOCTOR else None,
            status=consultation_status_from(request.status),
        )
        page, token = await views.consultations(
            self.ctx, self.ctx.unit_of_work(), caller, query, asked
        )
        return pb.ListConsultationsResponse(
            consultations=[consultation_message(c) for c in page], next_page_token=token
        )

    async def ListClinicalSessions(
        self, request: pb.ListClinicalSessionsRequest, context
    ) -> pb.ListClinicalSessionsResponse:
        page, token = await views.clinical_sessions(
            self.ctx,
            self.ctx.unit_of_work(),
            _caller(context),
            clinical_session_status_from(request.status),
            PageRequest.of(request, datetime, str),
        )
        return pb.ListClinicalSessionsResponse(
            clinical_sessions=[clinical_session_message(s) for s in page], next_page_token=token
        )

    async def CancelConsultation(self, request, context) -> pb.CancelConsultationResponse:
        command = clinical.CancelConsultation(
            id_from(request.consultation_id, "consultation_id"), _caller(context)
        )
        return await self._action_on_consultation(command, request, pb.CancelConsultationResponse)

    async def _action_on_consultation(self, command, request: Idempotent, response_type: type[R]):
        async def answer(uow):
            consultation = await self.handle(command, uow)
            return response_type(consultation=consultation_message(consultation))

        name = type(command).__name__
        return await answer_call(self.ctx.unit_of_work(), name, request, response_type, answer)

    async def AcceptConsultation(self, request, context) -> pb.AcceptConsultationResponse:
        command = clinical.AcceptConsultation(
            id_from(request.consultation_id, "consultation_id"), _caller(context)
        )
        return await self._action_on_consultation(command, request, pb.AcceptConsultationResponse)

    async def DeclineConsultation(self, request, context) -> pb.DeclineConsultationResponse:
        command = clinical.DeclineConsultation(
            id_from(request.consultation_id, "consultation_id"), _caller(context), request.reason
        )
        return await self._action_on_consultation(command, request, pb.DeclineConsultationResponse)

    async def CompleteConsultation(self, request, context) -> pb.CompleteConsultationResponse:
        command = clinical.CompleteConsultation(
            id_from(request.consultation_id, "consultation_id"), _caller(context), request.notes
        )
        return await self._action_on_consultation(command, request, pb.CompleteConsultationResponse)

    async def PostMessage(self, request: pb.PostMessageRequest, context) -> pb.PostMessageResponse:
        command = clinical.PostMessage(
            id_from(request.consultation_id, "consultation_id"), _caller(context), request.text
        )

        async def answer(uow) -> pb.PostMessageResponse:
            message = await self.handle(command, uow)
            return pb.PostMessageResponse(message=chat_message(message))

        return await answer_call(
            self.ctx.unit_of_work(), "PostMessage", request, pb.PostMessageResponse, answer
        )

    async def StreamMessages(
        self, request: pb.StreamMessagesRequest, context
    ) -> AsyncIterator[pb.StreamMessagesResponse]:
        """Everything after the caller's cursor, in order, then new messages as they come,
        until the consultation is over; a reconnecting client passes the last sequence it
        saw and misses nothing."""
        if request.after_sequence < 0:
            raise errors.InvalidArgument("after_sequence", "must be 0 or the last one received")
        chat = views.chat(
            self.ctx,
            id_from(request.consultation_id, "consultation_id"),
            _caller(context),
            request.after_sequence,
        )
        async for message in chat:
            yield pb.StreamMessagesResponse(message=chat_message(message))

    async def SetDoctorShifts(
        self, request: pb.SetDoctorShiftsRequest, context
    ) -> pb.SetDoctorShiftsResponse:
        command = clinical.SetDoctorShifts(
            doctor_id_from(request.doctor_id, required=True), shifts_from(request.shifts)
        )

        async def answer(uow) -> pb.SetDoctorShiftsResponse:
            doctor = await self.handle(command, uow)
            return doctor_shifts_set_message(doctor)

        return await answer_call(
            self.ctx.unit_of_work(), "SetDoctorShifts", request, pb.SetDoctorShiftsResponse, answer
        )

    async def ListDoctorShifts(
        self, request: pb.ListDoctorShiftsRequest, context
    ) -> pb.ListDoctorShiftsResponse:
        doctor_id = doctor_id_from(request.doctor_id, required=True)
        doctor = await views.doctor(self.ctx.unit_of_work(), doctor_id)
        return doctor_shifts_message(doctor)

    async def SetConsultationPrices(
        self, request: pb.SetConsultationPricesRequest, context
    ) -> pb.SetConsultationPricesResponse:
        command = clinical.SetConsultationPrices(
            doctor_id_from(request.doctor_id), prices_from(request.prices)
        )

        async def answer(uow) -> pb.SetConsultationPricesResponse:
            saved = await self.handle(command, uow)
            return prices_set_message(command.doctor_id, saved)

        return await answer_call(
            self.ctx.unit_of_work(),
            "SetConsultationPrices",
            request,
            pb.SetConsultationPricesResponse,
            answer,
        )

    async def ListAuditEntries(
        self, request: pb.ListAuditEntriesRequest, context
    ) -> pb.ListAuditEntriesResponse:
        query = views.AuditQuery(
            subject_id=optional_id_from(request.subject_id, "subject_id"),
            actor_id=request.actor_id or None,
        )
        page, token = await views.audit_entries(
            self.ctx.unit_of_work(), query, PageRequest.of(request, datetime, str)
        )
        return pb.ListAuditEntriesResponse(
            entries=[audit_entry_message(e) for e in page], next_page_token=token
        )


# No service calls consultation: clinical data is read by its patients, doctors and admins
# through the gateway, and by no other service.
EVERYONE = frozenset({PATIENT, DOCTOR, ADMIN})
ADMINS = frozenset({ADMIN})
DOCTORS = frozenset({DOCTOR})

ACCESS = {
    "StartIntake": frozenset({PATIENT}),
    "StartCheckout": frozenset({PATIENT}),
    "GetCheckout": frozenset({PATIENT, ADMIN}),
    "RetryCheckout": frozenset({PATIENT}),
    "GetClinicalSession": frozenset({PATIENT, ADMIN}),
    "SubmitSymptoms": frozenset({PATIENT}),
    "GetConsultation": EVERYONE,
    "ListConsultations": frozenset({PATIENT, DOCTOR}),
    "ListCheckouts": frozenset({PATIENT}),
    "ListClinicalSessions": frozenset({PATIENT}),
    "CancelConsultation": frozenset({PATIENT}),
    "AcceptConsultation": DOCTORS,
    "DeclineConsultation": DOCTORS,
    "CompleteConsultation": DOCTORS,
    "PostMessage": frozenset({PATIENT, DOCTOR}),
    "StreamMessages": frozenset({PATIENT, DOCTOR}),
    "SetDoctorShifts": ADMINS,
    "ListDoctorShifts": frozenset({DOCTOR, ADMIN}),
    "SetConsultationPrices": ADMINS,
    "ListAuditEntries": ADMINS,
}

# The request fields a person writes in sentences, which may span lines (runtime.text):
# the patient's complaint and account, the doctor's reason and notes, the chat. Every
# other text (ids, codes, URLs) is one line.
MULTI_LINE = (
    multi_line(pb.StartIntakeRequest, "complaint")
    | multi_line(pb.SubmitSymptomsRequest, "details")
    | multi_line(pb.DeclineConsultationRequest, "reason")
    | multi_line(pb.CompleteConsultationRequest, "notes")
    | multi_line(pb.PostMessageRequest, "text")
)
