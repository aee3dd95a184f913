"""Where the gateway sends a patient's browser back to, with the checkout session's id: only
to the clinic's own apps. Every payment call that takes a return URL refuses any other,
naming the field and changing nothing; outside development only https will do, and a
call without one gets the service's own default."""

from __future__ import annotations

import grpc
import pytest
from nobat.payment.v1 import payment_service_pb2 as pb

from stack.local import LOCAL_APP
from tests.component.payment.harness import key, usd
from tests.component.payment.test_bad_input import request, violated_fields

FOREIGN = [
    "https://evil.example.net/steal?x=1",
    "https://localhost@evil.example.net/",
    "javascript:alert(1)//localhost",
    f"{LOCAL_APP}/" + "x" * 5000,
]
PRODUCTION = {
    "NOBAT_DEVELOPMENT": "false",
    "NOBAT_RETURN_URL_HOSTS": "app.clinic.example,*.tenants.clinic.example",
    "NOBAT_PAYMENT_RETURN_URL": "https://app.clinic.example/wallet/return",
}


async def refused_on_return_url(call) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
    assert violated_fields(refused.value) == ["return_url"]


@pytest.mark.parametrize("url", FOREIGN, ids=["other-host", "user-info", "script", "oversized"])
async def test_every_call_that_takes_a_return_url_refuses_a_foreign_one(payment, url):
    created = await payment.api().create()
    patient = payment.api("patient", "patient-1")
    await refused_on_return_url(payment.api().CreatePayment(request(return_url=url)))
    await refused_on_return_url(
        patient.RetryPayment(
            pb.RetryPaymentRequest(idempotency_key=key(), payment_id=created.id, return_url=url)
        )
    )
    await refused_on_return_url(
        patient.TopUpWallet(
            pb.TopUpWalletRequest(idempotency_key=key(), amount=usd(5_000), return_url=url)
        )
    )
    after = await payment.api().get(created.id)
    assert (after.return_url, len(after.attempts)) == (created.return_url, 1)
    assert await payment.count("payments") == 1
    assert await payment.count("idempotency_keys") == 1


@pytest.mark.payment_env(**PRODUCTION)
async def test_outside_development_only_https_on_the_clinics_hosts_will_do(payment, sandbox):
    api = payment.api()
    for url in ("http://app.clinic.example/return", f"{LOCAL_APP}/return"):
        await refused_on_return_url(api.CreatePayment(request(return_url=url)))
    for url in ("https://app.clinic.example/return", "https://kashan.tenants.clinic.example/r"):
        created = (await api.CreatePayment(request(return_url=url))).payment
        assert created.return_url == url

    # A top-up the app gave no URL for goes back to the service's default.
    patient = payment.api("patient", "patient-1")
    top_up = (
        await patient.TopUpWallet(pb.TopUpWalletRequest(idempotency_key=key(), amount=usd(5_000)))
    ).payment
    session = await sandbox.session(top_up.attempts[-1].gateway_ref)
    assert session["session"]["cancel_url"] == PRODUCTION["NOBAT_PAYMENT_RETURN_URL"]
