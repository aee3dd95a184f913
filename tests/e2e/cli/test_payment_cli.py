"""The `nobat` payment verbs against a real local stack (what `make run` starts): payments
created as the booking service would, then listed, shown and paid through the CLI as the
patient, with the sandbox gateway's webhooks settling them."""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from nobat.common.v1 import checkout_pb2, money_pb2
from nobat.payment.v1 import payment_service_pb2 as pb
from nobat.payment.v1 import payment_service_pb2_grpc

from cli import main as cli
from cli.render import money
from stack.local import LOCAL_APP, LocalStack
from tests.component.payment.harness import SandboxControl
from tests.instants import THURSDAY_NIGHT, stack_instant
from tests.processes import eventually

pytestmark = pytest.mark.e2e


@dataclass
class Stack:
    manifest: Path
    local: LocalStack

    def create_payment(self, patient: str, doctor: str = "doctor-1") -> pb.Payment:
        """A 100.00 USD booking for `doctor`, as the booking service asks for one."""
        amount = money_pb2.Money(amount_minor=10_000, currency="USD")
        request = pb.CreatePaymentRequest(
            idempotency_key=uuid.uuid4().hex,
            purchase=pb.Purchase(kind="booking", ref=uuid.uuid4().hex[:12]),
            patient_id=patient,
            amount=amount,
            lines=[
                pb.PayeeLine(
                    payee_kind=pb.PAYEE_KIND_DOCTOR,
                    payee_id=doctor,
                    amount=amount,
                    description="Appointment",
                )
            ],
            method=checkout_pb2.PAYMENT_METHOD_GATEWAY,
            return_url=f"{LOCAL_APP}/return",
            description="Appointment with Dr. One",
        )
        token = self.local.token("booking", "service", to="payment")
        with grpc.insecure_channel(self.local.services["payment"].address) as channel:
            reply = payment_service_pb2_grpc.PaymentServiceStub(channel).CreatePayment(
                request, metadata=[("authorization", f"Bearer {token}")], timeout=15
            )
        return reply.payment


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # Not pytest's tmp_path: as root it is mode 0700, and PostgreSQL runs as its own user.
    data_dir = Path(tempfile.mkdtemp(prefix="nobat-cli-"))
    data_dir.chmod(0o755)
    local = LocalStack(data_dir, fast=True, at=stack_instant(THURSDAY_NIGHT))
    try:
        with pytest.MonkeyPatch.context() as env:  # embedded servers of its own, like make run
            env.delenv("NOBAT_POSTGRES_URL", raising=False)
            env.delenv("NOBAT_NATS_URL", raising=False)
            local.start()
        yield Stack(data_dir / "stack.json", local)
    finally:
        local.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture
def nobat(stack: Stack, capsys: pytest.CaptureFixture[str]):
    """`nobat --manifest <the stack's> ARGS…`, in this process."""

    def run(*argv: str) -> Ran:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            cli.main(["--manifest", str(stack.manifest), *argv])
        captured = capsys.readouterr()
        return Ran(exited.value.code, captured.out, captured.err)

    return run


def ok(ran: Ran) -> str:
    assert (ran.code, ran.err) == (0, ""), ran
    return ran.out


def test_payments_list_and_show_print_the_patients_payment(stack, nobat):
    created = stack.create_payment("patient-list")
    me = ("--as", "patient:patient-list")

    listed = ok(nobat("payments", "list", *me))
    [row] = [line for line in listed.splitlines() if created.id in line]
    assert "booking/" + created.purchase.ref in row
    assert "100.00 USD" in row and "PROCESSING" in row

    shown = ok(nobat("payments", "show", created.id, *me))
    assert f"payment      {created.id}" in shown
    assert "amount       100.00 USD" in shown and "status       PROCESSING" in shown
    assert created.checkout_url in shown
    assert created.attempts[0].gateway_ref in shown and "PENDING" in shown
    assert "refunds      -" in shown

    as_json = json.loads(ok(nobat("payments", "show", created.id, "--json", *me)))
    assert as_json["id"] == created.id
    assert as_json["amount"] == {"amountMinor": "10000", "currency": "USD"}
    assert json.loads(ok(nobat("payments", "list", "--json", *me)))["payments"][0]["id"]

    # Another patient sees neither the payment nor that it exists.
    assert created.id not in ok(nobat("payments", "list", "--as", "patient:someone-else"))


def test_a_declined_payment_shows_the_decline_and_has_nothing_left_to_pay(stack, nobat):
    created = stack.create_payment("patient-decline")
    me = ("--as", "patient:patient-decline")

    declined = ok(
        nobat(
            "pay", created.id, "--outcome", "decline", "--decline-code", "insufficient_funds", *me
        )
    )
    assert declined.splitlines()[-1] == (
        f"payment {created.id} is REQUIRES_PAYMENT (#1 GATEWAY FAILED insufficient_funds)"
    )
    shown = ok(nobat("payments", "show", created.id, *me))
    assert "status       REQUIRES_PAYMENT" in shown
    assert "FAILED" in shown and "insufficient_funds" in shown

    again = nobat("pay", created.id, *me)
    assert again.code == 1
    assert again.err == (
        f"error: payment {created.id} has no open checkout: it is REQUIRES_PAYMENT\n"
    )


def test_a_failed_3d_secure_challenge_and_a_bank_debit_the_bank_pays(stack, nobat):
    challenged = stack.create_payment("patient-endings", doctor="doctor-endings")
    debited = stack.create_payment("patient-endings", doctor="doctor-endings")
    me = ("--as", "patient:patient-endings")

    failed = ok(nobat("pay", challenged.id, "--outcome", "3ds-fail", *me))
    later = ok(nobat("pay", debited.id, "--outcome", "pay-later", *me)).splitlines()
    waiting = ok(nobat("payments", "show", debited.id, *me))
    paid = ok(nobat("pay", debited.id, "--outcome", "bank-pays", *me))

    assert failed.splitlines()[-1] == (
        f"payment {challenged.id} is REQUIRES_PAYMENT"
        " (#1 GATEWAY FAILED payment_intent_authentication_failure)"
    )
    assert later[-1].startswith("the debit is processing")
    assert "status       PROCESSING" in waiting
    assert paid.splitlines()[-1] == f"payment {debited.id} is SUCCEEDED (#1 GATEWAY SUCCEEDED)"


def test_a_paid_top_up_is_in_the_wallet(nobat):
    assert ok(nobat("wallet", "show")) == "wallet of patient-1: empty\n"

    topped = ok(nobat("wallet", "top-up", "50.00", "USD")).splitlines()
    payment_id = topped[0].split()[2].rstrip(":")
    assert topped[0] == f"top-up payment {payment_id}: 50.00 USD, PROCESSING"
    checkout_url = topped[1].removeprefix("checkout: ")
    assert "/checkout/cs_" in checkout_url
    assert topped[2] == f"pay it on that page, or here: nobat pay {payment_id}"

    # By its checkout URL, as if the patient followed it.
    paid = ok(nobat("pay", checkout_url))
    assert paid.splitlines()[-1] == f"payment {payment_id} is SUCCEEDED (#1 GATEWAY SUCCEEDED)"

    wallet = ok(nobat("wallet", "show")).splitlines()
    assert wallet[:2] == ["wallet of patient-1:", "  50.00 USD"]
    history = ok(nobat("wallet", "history"))
    assert "TOP_UP" in history and payment_id in history
    [row] = [
        line
        for line in ok(nobat("payments", "list", "--status", "succeeded")).splitlines()
        if payment_id in line
    ]
    assert f"wallet_topup/{payment_id}" in row and "50.00 USD  SUCCEEDED" in row
    assert payment_id not in ok(nobat("payments", "list", "--status", "processing"))


def test_a_payment_paid_by_its_session_id_shows_in_the_doctors_payouts(stack, nobat):
    created = stack.create_payment("patient-payout", doctor="doctor-payout")

    paid = ok(nobat("pay", created.attempts[0].gateway_ref, "--as", "patient:patient-payout"))
    assert paid.splitlines()[-1].endswith("is SUCCEEDED (#1 GATEWAY SUCCEEDED)")

    payouts = ok(nobat("payouts", "--as", "doctor:doctor-payout")).splitlines()
    [row] = [line for line in payouts if created.id in line]
    # 2.9% + 0.30 of 100.00 to the gateway, 3% to the platform.
    assert row.split()[1:7] == ["doctor-payout", "100.00", "USD", "3.00", "USD", "3.20"]
    assert "93.80 USD" in row and "HELD" in row
    assert ok(nobat("payouts")) == "no payouts\n"


async def test_disputes_lists_a_disputed_payment_for_admins_only(stack, nobat):
    created = stack.create_payment("patient-dispute", doctor="doctor-dispute")
    session = created.attempts[0].gateway_ref
    ok(nobat("pay", session, "--as", "patient:patient-dispute"))
    assert stack.local.sandbox is not None
    opened = await SandboxControl(stack.local.sandbox.url).dispute(session, reason="general")

    async def listed() -> bool:
        return opened["id"] in ok(nobat("disputes", "--status", "open"))

    await eventually(listed, 30, "the dispute listed")
    [row] = [line for line in ok(nobat("disputes")).splitlines() if opened["id"] in line]
    assert row.split()[:6] == [created.id, opened["id"], "100.00", "USD", "general", "OPEN"]
    assert ok(nobat("disputes", "--payment", "pay-nothing")) == "no disputes\n"
    refused = nobat("disputes", "--as", "patient:patient-dispute")
    assert refused.code == 1 and "PERMISSION_DENIED" in refused.err


def test_failures_are_one_line_and_exit_1(nobat):
    for argv, line in [
        (("payments", "show", "no-such-payment"), "error: NOT_FOUND: no payment no-such-payment"),
        (
            ("wallet", "top-up", "1.234", "USD"),
            "error: INVALID_ARGUMENT: amount: '1.234' is not a number with at most 2 decimals",
        ),
        (("payouts", "--as", "patient:patient-1"), "error: PERMISSION_DENIED: role patient"),
        (("pay", "cs_test_unknown"), "error: sandbox: No such checkout.session"),
    ]:
        ran = nobat(*argv)
        assert ran.code == 1 and ran.out == "", ran
        assert ran.err.startswith(line) and ran.err.count("\n") == 1, ran


@pytest.mark.parametrize(
    ("minor", "currency", "printed"),
    [
        (1234, "USD", "12.34 USD"),
        (-5, "KWD", "-0.005 KWD"),
        (150000, "IRR", "150000 IRR"),
        (7, "XYZ", "7 minor units of XYZ"),
    ],
)
def test_money_is_printed_in_major_units_of_its_currency(minor, currency, printed):
    assert money(money_pb2.Money(amount_minor=minor, currency=currency)) == printed
