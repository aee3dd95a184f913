"""The checkout RPCs booking and consultation answer alike: GetCheckout and RetryCheckout.

A context's servicer takes these in with this class and names its own protos module, views
module and checkout message; the rest of its RPCs are its own.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any, ClassVar

from purchasing.commands import RetryCheckout
from purchasing.messages import method_from
from runtime import auth
from runtime.handling import Handlers
from runtime.idempotency import answer_call
from runtime.wire import id_from


class CheckoutCalls:
    # The context's service protos (pb.GetCheckoutResponse, ...), its views module (with
    # checkout(uow, checkout_id, viewer)) and how a checkout goes on its wire.
    protos: ClassVar[ModuleType]
    views: ClassVar[ModuleType]
    checkout_message: ClassVar[Callable[[Any], Any]]
    ctx: Any
    handle: Handlers

    async def GetCheckout(self, request, context):
        checkout = await self.views.checkout(
            self.ctx.unit_of_work(),
            id_from(request.checkout_id, "checkout_id"),
            auth.viewing_patient(),
        )
        return self.protos.GetCheckoutResponse(checkout=type(self).checkout_message(checkout))

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
