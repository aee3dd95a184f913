"""A seeded fault loop over the whole system: `python -m tests.faults.chaos --seed S
--duration D` (or `make chaos`).

It starts the whole stack, sets up doctors, then lets many patients book and consult, pay
(gateway, 3-D Secure, bank debit and wallet), fail, retry, abandon and cancel, and
doctors decline and accept consultations, while the faults the seed chose are injected on
schedule: services killed (also at crash points between commit and publish, and in
consumers before and after commit), NATS killed and restarted, PostgreSQL paused,
notification down, and the gateway duplicating, reordering, delaying, dropping and
forging webhooks, or charging and losing its answer. Then everything is brought back, the
system is left to settle, and every invariant is checked. The same seed replays the same
faults; a failing run prints its seed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pwd
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nobat.booking.v1 import booking_service_pb2 as bpb
from nobat.common.v1 import checkout_pb2
from nobat.consultation.v1 import consultation_service_pb2 as cpb
from nobat.payment.v1 import payment_service_pb2 as ppb

from cli import invariants
from stack.local import LocalStack
from tests.component.payment.harness import signed_event
from tests.e2e.flows import (
    CONFIRMED,
    EXPIRED,
    FAILED,
    GATEWAY,
    REFUNDED,
    WALLET,
    Nobat,
    key,
    session_of,
)
from tests.e2e.test_consultation_flows import prices, put_on_shift
from tests.faults.schedule import Fault, schedule
from tests.instants import NEW_YORK_FALL_BACK, stack_instant

SETTINGS = {
    "NOBAT_BOOKING_HOLD_SECONDS": "6",
    "NOBAT_BOOKING_JOB_INTERVAL_SECONDS": "0.5",
    "NOBAT_PAYMENT_JOB_INTERVAL_SECONDS": "0.5",
    "NOBAT_PAYMENT_RECONCILE_FIRST_SECONDS": "1",
    "NOBAT_PAYMENT_RECONCILE_EVERY_SECONDS": "2",
    "NOBAT_PAYMENT_PENDING_GRACE_SECONDS": "3",
    "NOBAT_PAYMENT_ORPHAN_GRACE_SECONDS": "15",
    "NOBAT_CONSUMER_ACK_WAIT_SECONDS": "5",
    # Outages last seconds here; an event must outlive them rather than be dead-lettered.
    "NOBAT_CONSUMER_MAX_DELIVER": "1000",
    "NOBAT_SHUTDOWN_GRACE_SECONDS": "2",
    # A payment call's deadline is 10 s: a checkout missing for longer was never stored.
    "NOBAT_BOOKING_UNKNOWN_CHECKOUT_SECONDS": "20",
    "NOBAT_CONSULTATION_UNKNOWN_CHECKOUT_SECONDS": "20",
    "NOBAT_LOG_LEVEL": "WARNING",
}
TERMINAL = {CONFIRMED, REFUNDED, EXPIRED}


@dataclass
class Tally:
    flows: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)


class Chaos:
    def __init__(self, stack: LocalStack, seed: int, duration: float) -> None:
        self.stack = stack
        self.nobat = Nobat(stack)
        self.seed = seed
        self.duration = duration
        self.tally = Tally()
        self.doctors: list[str] = []
        self._stopping = asyncio.Event()
        # Services the supervisor keeps running (one taken down on purpose is absent).
        self.supervised = set(stack.services)
        self.violations: list[invariants.Violation] = []

    # The workload.

    async def patient(self, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        patient = self.nobat.patient(f"chaos-{self.seed}-{index}")
        while not self._stopping.is_set():
            try:
                draw = rng.random()
                if draw < 0.7:
                    await self.book(rng, patient)
                elif draw < 0.85:
                    await self.consult(rng, patient)
                else:
                    await self.top_up(patient)
            except (grpc.aio.AioRpcError, aiohttp.ClientError, TimeoutError) as error:
                name = error.code().name if isinstance(error, grpc.aio.AioRpcError) else "io"
                self.tally.errors[name] += 1
                await asyncio.sleep(0.5)

    async def book(self, rng: random.Random, patient) -> None:
        slots = await self.nobat.free_slots(rng.choice(self.doctors))
        if not slots:
            return
        method = WALLET if rng.random() < 0.25 else GATEWAY
        checkout = await self.nobat.book(patient, rng.choice(slots[:10]).id, method)
        self.tally.flows["checkouts"] += 1
        if checkout.checkout_url and not await self.pay_or_not(rng, patient, checkout, "booking"):
            return
        settled = await self.settled(patient, checkout.id)
        self.tally.flows[f"checkout {settled}"] += 1
        if settled == "CHECKOUT_STATUS_CONFIRMED" and rng.random() < 0.15:
            reply = await patient.booking.GetCheckout(
                bpb.GetCheckoutRequest(checkout_id=checkout.id)
            )
            await patient.booking.CancelReservation(
                bpb.CancelReservationRequest(
                    idempotency_key=key(),
                    reservation_id=reply.checkout.reservation_id,
                    reason="chaos",
                )
            )
            self.tally.flows["cancelled"] += 1

    async def pay_or_not(self, rng: random.Random, patient, checkout, context: str) -> bool:
        """On the gateway's page the patient pays, declines, cancels, walks away, answers a
        3-D Secure challenge, or pays by bank debit, which the bank pays or refuses: after
        a decline, a failed challenge or a refused debit they retry once; after a cancel
        they pay on the page, which stays open. False when they walked away."""
        outcome = rng.choices(
            ["pay", "decline", "cancel", "abandon", "3ds pass", "3ds fail", "debit"],
            [60, 10, 6, 10, 4, 4, 6],
        )[0]
        self.tally.flows[f"{context} {outcome}"] += 1
        if outcome == "abandon":
            return False
        page = self.nobat.sandbox
        session = session_of(checkout)
        failed = outcome == "decline"
        if outcome == "debit":
            await page.pay_later(session)
            failed = rng.random() < 0.3
            await page.settle(session, "failed" if failed else "succeeded")
        elif outcome.startswith("3ds"):
            await page.challenge(session)
            failed = outcome == "3ds fail"
            await page.authenticate(session, passed=not failed)
        else:
            await self.nobat.pay(checkout, outcome)
        if outcome == "cancel":
            # As on Stripe, Cancel only led back to nobat and the page stays open: the
            # patient changes their mind and pays on it after all.
            await self.nobat.pay(checkout)
        elif failed:
            await self.retry(patient, checkout, context)
        return True

    async def retry(self, patient, checkout, context: str) -> None:
        """After a failed payment, the patient tries again once, on the gateway, on
        booking's or consultation's checkout (`context`)."""
        for _ in range(20):
            status, reply = await self.checkout_status(patient, checkout.id, context)
            if status == FAILED:
                break
            if status in TERMINAL:
                return
            await asyncio.sleep(0.3)
        else:
            return
        if not reply.payment_failure.retryable:
            return
        retried = await self.nobat.retry(patient, checkout.id, GATEWAY, context)
        self.tally.flows[f"{context} retried"] += 1
        await self.nobat.pay(retried)

    async def checkout_status(self, patient, checkout_id: str, context: str):
        calls, messages = (
            (patient.booking, bpb) if context == "booking" else (patient.consultation, cpb)
        )
        reply = await calls.GetCheckout(messages.GetCheckoutRequest(checkout_id=checkout_id))
        return reply.checkout.status, reply.checkout

    async def settled(
        self, patient, checkout_id: str, timeout: float = 15, context: str = "booking"
    ) -> str:
        deadline = time.monotonic() + timeout
        status = 0
        while time.monotonic() < deadline:
            status, _ = await self.checkout_status(patient, checkout_id, context)
            if status in TERMINAL:
                break
            await asyncio.sleep(0.3)
        return checkout_pb2.CheckoutStatus.Name(status)

    async def consult(self, rng: random.Random, patient) -> None:
        """Intake, a paid chat consultation, then the symptoms that give it a doctor."""
        intake = (
            await patient.consultation.StartIntake(
                cpb.StartIntakeRequest(
                    idempotency_key=key(),
                    complaint="A cough",
                    symptoms=[cpb.ReportedSymptom(code="cough", days_since_onset=3)],
                    age_years=30,
                )
            )
        ).intake
        checkout = (
            await patient.consultation.StartCheckout(
                cpb.StartCheckoutRequest(
                    idempotency_key=key(),
                    intake_id=intake.id,
                    type=cpb.CONSULTATION_TYPE_CHAT,
                    method=GATEWAY,
                )
            )
        ).checkout
        self.tally.flows["consultations"] += 1
        if not await self.pay_or_not(rng, patient, checkout, "consultation"):
            return
        await self.settled(patient, checkout.id, timeout=15, context="consultation")
        _, paid = await self.checkout_status(patient, checkout.id, "consultation")
        if not paid.clinical_session_id or rng.random() >= 0.8:
            return
        consultation = (
            await patient.consultation.SubmitSymptoms(
                cpb.SubmitSymptomsRequest(
                    idempotency_key=key(),
                    clinical_session_id=paid.clinical_session_id,
                    details="Still coughing",
                )
            )
        ).consultation
        self.tally.flows["symptoms submitted"] += 1
        await self.take_on(rng, consultation)

    async def take_on(self, rng: random.Random, consultation: cpb.Consultation) -> None:
        """Its doctors decline it (its payout moves to the next one, or to the platform
        and back to the patient) or accept it, until one accepts or nobody is left."""
        while consultation.status == cpb.CONSULTATION_STATUS_DOCTOR_REVIEW_PENDING:
            doctor = self.nobat.doctor(consultation.doctor_id)
            if rng.random() < 0.35:
                request = cpb.DeclineConsultationRequest(
                    idempotency_key=key(), consultation_id=consultation.id, reason="chaos"
                )
                consultation = (await doctor.consultation.DeclineConsultation(request)).consultation
                self.tally.flows["doctor declined a consultation"] += 1
            else:
                request = cpb.AcceptConsultationRequest(
                    idempotency_key=key(), consultation_id=consultation.id
                )
                consultation = (await doctor.consultation.AcceptConsultation(request)).consultation
                self.tally.flows["doctor accepted a consultation"] += 1

    async def top_up(self, patient) -> None:
        payment = (
            await patient.payment.TopUpWallet(
                ppb.TopUpWalletRequest(
                    idempotency_key=key(), amount={"amount_minor": 100_000, "currency": "USD"}
                )
            )
        ).payment
        await self.nobat.sandbox.pay(payment.attempts[-1].gateway_ref)
        self.tally.flows["top-ups"] += 1

    async def slot_race(self, patients: int = 12) -> None:
        """Many patients at one slot at once: one reservation, everyone else refused or
        refunded."""
        slots = await self.nobat.free_slots(random.Random(self.seed).choice(self.doctors))
        if not slots:
            return
        slot = slots[-1]

        async def one(index: int) -> None:
            patient = self.nobat.patient(f"racer-{self.seed}-{index}-{key()[:4]}")
            with contextlib.suppress(grpc.aio.AioRpcError):
                checkout = await self.nobat.book(patient, slot.id)
                await self.nobat.pay(checkout)

        await asyncio.gather(*(one(i) for i in range(patients)))

    # The faults.

    async def inject(self, fault: Fault) -> None:
        self.tally.faults[fault.kind] += 1
        print(f"  fault {fault}", flush=True)
        sandbox = self.nobat.sandbox
        match fault.kind:
            case "kill_service":
                await self.outage(fault.target, fault.seconds)
            case "crash_point":
                name, point = fault.target.split(":")
                self.stack.restart_service(name, wait=False, NOBAT_CRASH_AT=point)
            case "kill_nats":
                assert self.stack.nats is not None
                self.stack.nats.kill()
                await asyncio.sleep(fault.seconds)
                # Servers are started from the main thread (their parent-death signal
                # follows the thread that forked them); a start takes a moment.
                self.stack.nats.start()
            case "pause_postgres":
                await self.pause_postgres(fault.seconds)
            case "notification_down":
                await self.outage("notification", fault.seconds * 3)
            case "forged_webhook":
                await self.forge()
            case "slot_race":
                await self.slot_race()
            case _:
                switch = {
                    "gateway_duplicates": {"duplicate": 3},
                    "gateway_reverse": {"reverse": True},
                    "gateway_delay": {"delay_seconds": 1.5},
                    "gateway_drop": {"drop": True},
                    "gateway_bad_signature": {"bad_signature": True},
                    "gateway_lose_response": {"lose_response": 2, "lose_pay": 1},
                }[fault.kind]
                await sandbox.switches(**switch)
                await asyncio.sleep(fault.seconds)
                await sandbox.reset()

    async def outage(self, name: str, seconds: float) -> None:
        self.supervised.discard(name)
        process = self.stack.services[name].process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
        await asyncio.sleep(seconds)
        await self.restart(name)
        self.supervised.add(name)

    async def restart(self, name: str) -> None:
        self.stack.restart_service(name, wait=False)
        address = self.stack.services[name].address
        deadline = time.monotonic() + 30
        async with grpc.aio.insecure_channel(address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                await asyncio.sleep(0.2)

    async def pause_postgres(self, seconds: float) -> None:
        """SIGSTOP every PostgreSQL process: connections hang rather than fail."""
        if self.stack.postgres is None:
            return
        pids = await asyncio.to_thread(_pids_of, "nobat-pg")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(seconds)
        finally:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)

    async def forge(self) -> None:
        """A webhook signed with a secret that is not the gateway's: refused, no effect."""
        forged = ppb.Payment(id=key(), amount={"amount_minor": 1, "currency": "USD"})
        forged.attempts.add(gateway_ref="cs_forged")
        body, signature = signed_event(forged, "wrong_secret", "whsec_irrelevant")
        url = f"http://127.0.0.1:{self.stack.webhook_port}/webhooks/gateway"
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=body, headers={"Stripe-Signature": signature}) as reply,
        ):
            assert reply.status == 400, f"a forged webhook was answered {reply.status}"

    async def supervise(self) -> None:
        """Restarts a supervised service that died (a crash point fired), as Kubernetes
        would."""
        while not self._stopping.is_set():
            for name in list(self.supervised):
                process = self.stack.services[name].process
                if process is not None and process.poll() is not None:
                    self.tally.faults["restarts"] += 1
                    await self.restart(name)
            await asyncio.sleep(0.5)

    # The run.

    async def run(self, patients: int) -> list[invariants.Violation]:
        for _ in range(4):
            self.doctors.append(await self.nobat.new_doctor(fee=20_000, days=4))
        await consultations_open(self.nobat, self.doctors)
        faults = schedule(self.seed, self.duration)
        print(f"chaos seed {self.seed}: {len(faults)} faults over {self.duration:.0f}s", flush=True)
        started = time.monotonic()
        supervisor = asyncio.create_task(self.supervise())
        workers = [asyncio.create_task(self.patient(i)) for i in range(patients)]
        for fault in faults:
            await asyncio.sleep(max(0.0, started + fault.at - time.monotonic()))
            try:
                await self.inject(fault)
            except Exception as error:  # a fault that misfires is reported, not fatal
                self.tally.errors[f"fault {fault.kind}: {type(error).__name__}"] += 1
        await asyncio.sleep(max(0.0, started + self.duration - time.monotonic()))
        self._stopping.set()
        await asyncio.gather(*workers, return_exceptions=True)
        await supervisor
        return await self.settle()

    async def settle(self, timeout: float = 120) -> list[invariants.Violation]:
        """Everything back up, then wait until every invariant holds, or report why not."""
        await self.nobat.sandbox.reset()
        for name, handle in self.stack.services.items():
            if handle.process is None or handle.process.poll() is not None:
                await self.restart(name)
        deadline = time.monotonic() + timeout
        while True:
            found = await invariants.check(self.stack.database_urls, self.stack.nats_url)
            if not found or time.monotonic() > deadline:
                return found
            await asyncio.sleep(2)


async def consultations_open(nobat: Nobat, doctors: list[str]) -> None:
    """Platform prices, and every doctor on shift around the clock in consultation."""
    await prices(nobat)
    for doctor in doctors:
        await put_on_shift(nobat, doctor)


def _pids_of(user: str) -> list[int]:
    uid = pwd.getpwnam(user).pw_uid
    return [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _owner(entry) == uid
    ]


def _owner(entry: Path) -> int | None:
    try:
        return entry.stat().st_uid
    except OSError:
        return None


async def _run(stack: LocalStack, seed: int, duration: float, patients: int) -> Chaos:
    chaos = Chaos(stack, seed, duration)
    try:
        chaos.violations = await chaos.run(patients)
    finally:
        await chaos.nobat.close()
    return chaos


def run(seed: int, duration: float, patients: int, data_dir: Path) -> int:
    """One chaos run; 0 when every invariant holds at the end."""
    stack = LocalStack(
        data_dir, fast=True, overrides=SETTINGS, at=stack_instant(NEW_YORK_FALL_BACK)
    )
    stack.start()
    try:
        chaos = asyncio.run(_run(stack, seed, duration, patients))
    finally:
        stack.stop()
    violations, tally = chaos.violations, chaos.tally
    print(f"\nchaos seed {seed}, {duration:.0f}s, {patients} patients")
    print("flows:   " + ", ".join(f"{k} {v}" for k, v in sorted(tally.flows.items())))
    print("faults:  " + ", ".join(f"{k} {v}" for k, v in sorted(tally.faults.items())))
    print(
        "errors seen by patients (expected under faults): "
        + (", ".join(f"{k} {v}" for k, v in sorted(tally.errors.items())) or "none")
    )
    if violations:
        print(f"{len(violations)} VIOLATIONS (replay with --seed {seed}):")
        for violation in violations:
            print(f"  {violation}")
        return 1
    print("every invariant holds")
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.chaos")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of faults")
    parser.add_argument("--patients", type=int, default=8)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="nobat-chaos-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o755)
    sys.exit(run(args.seed, args.duration, args.patients, data_dir))


if __name__ == "__main__":
    main()
