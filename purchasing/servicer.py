"""The checkout RPCs booking and consultation answer alike: GetCheckout, RetryCheckout and
ListCheckouts.

A context's servicer takes these in with this class and names its own protos module, views
module and checkout message; the rest of its RPCs are its own.
"""

from __future__ import annotations

from datetime import datetime
from types import ModuleType
from typing import Any, ClassVar

from purchasing.commands import RetryCheckout
from purchasing.handlers import patients_checkouts
from purchasing.messages import checkout_status_from, method_from
from runtime import auth
from runtime.handling import Handlers
from runtime.idempotency import answer_call
from runtime.wire import PageRequest, id_from


class CheckoutCalls:
    # The context's service protos (pb.GetCheckoutResponse, ...), its views module (with
    # checkout(uow, checkout_id, viewer)) and how a checkout goes on its wire.
    protos: ClassVar[ModuleType]
    views: ClassVar[ModuleType]
    ctx: Any
    handle: Handlers

    @staticmethod
    def checkout_message(checkout: Any) -> Any:
        raise NotImplementedError("the context's servicer names its checkout message")

    async def GetCheckout(self, request, context):
        checkout = await self.views.checkout(
            self.ctx.unit_of_work(),
            id_from(request.checkout_id, "checkout_id"),
            auth.viewing_patient(),
        )
        return self.protos.GetCheckoutResponse(checkout=type(self).checkout_message(checkout))

    async def ListCheckouts(self, request, context):
        page, token = await patients_checkouts(
            self.ctx.unit_of_work(),
            auth.current_caller().subject,
            checkout_status_from(request.status),
            PageRequest.of(request, datetime, str),
        )
        message = type(self).checkout_message
        return self.protos.ListCheckoutsResponse(
            checkouts=[message(checkout) for checkout in page], next_page_token=token
        )

    async def RetryCheckout(self, request, context):
        command = RetryCheckout(
            checkout_id=id_from(request.checkout_id, "checkout_id"),
            method=method_from(request.method, allow_unspecified=True),
            viewer=auth.viewing_patient(),
        )
        answered = self.protos.RetryCheckoutResponse

        async def answer(uow):
            checkout = await self.handle(command, uow)
            return answered(checkout=type(self).checkout_message(checkout))

        return await answer_call(
            self.ctx.unit_of_work(), "RetryCheckout", request, answered, answer
        )
