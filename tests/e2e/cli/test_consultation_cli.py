"""The `nobat` consultation and notification verbs against a real local stack with
`make run`'s seed data: an intake and its triage, paying for a consultation, the
symptoms that give it to a doctor on shift, the doctor's answer and the chat; red flags
that sell nothing; and the patient's contact, inbox, live feed and read marks."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest
from nobat.consultation.v1 import consultation_service_pb2 as cpb

from cli.consultations import symptom
from cli.render import consultation_text
from stack.local import ROOT
from tests.e2e.cli import test_payment_cli as payment_cli
from tests.e2e.cli.test_booking_cli import _free_slot, seeded_once
from tests.e2e.cli.test_payment_cli import ok

pytestmark = pytest.mark.e2e

# A stack of this module's own (module-scoped), and `nobat ARGS…` against it.
stack = payment_cli.stack
nobat = payment_cli.nobat

# How long the services may take to pass an event on (a payment to its checkout, a
# booking to the inbox).
SETTLE = 20.0


@pytest.fixture(scope="module")
def seeded(stack: payment_cli.Stack) -> list[str]:
    return seeded_once(stack)


def test_the_seed_sets_consultation_prices_shifts_and_the_patients_contact(stack, seeded):
    assert seeded[4:] == [
        "seeded consultation prices: chat 25.00 EUR, video 60.00 EUR, emergency 100.00 EUR",
        "seeded doctor-1's consultation shifts: around the clock, every day (Asia/Tehran)",
        "seeded doctor-2's consultation shifts: around the clock, every day (Asia/Tehran)",
        "seeded doctor-3's consultation shifts: around the clock, every day (Europe/London)",
        "seeded patient-1's contact: fa, email patient-1@example.com, sms +989121234567"
        " (development's log sink notes each delivery; `nobat inbox` shows the text)",
    ]
    again = seeded_once(stack)
    assert again[4:] == seeded[4:]


def eventually(ask: Callable[[], str], wanted: Callable[[str], bool], what: str) -> str:
    """What `ask()` prints once `wanted` holds of it, within SETTLE seconds."""
    deadline = time.monotonic() + SETTLE
    while True:
        printed = ask()
        if wanted(printed):
            return printed
        assert time.monotonic() < deadline, f"no {what} in {SETTLE:g} s:\n{printed}"
        time.sleep(0.2)


class Follower:
    """`nobat ARGS… --follow` as its own process, which Ctrl-C (SIGINT) stops."""

    # Python ignores SIGINT in a process started with it ignored (a background job of a
    # shell without job control): make Ctrl-C raise KeyboardInterrupt whatever the parent.
    SCRIPT = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler);"
        "from cli.main import main; main(sys.argv[1:])"
    )

    def __init__(self, stack: payment_cli.Stack, *argv: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", self.SCRIPT, "--manifest", str(stack.manifest), *argv],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, wanted: Callable[[str], bool], what: str) -> str:
        deadline = time.monotonic() + SETTLE
        while not any(map(wanted, self.lines)):
            assert self.process.poll() is None, self.process.stderr.read()
            assert time.monotonic() < deadline, f"no {what} in {SETTLE:g} s: {self.lines}"
            time.sleep(0.1)
        return next(line for line in self.lines if wanted(line))

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C: the exit status and what went to stderr."""
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(10)
        finally:
            self.process.kill()  # only if Ctrl-C did not stop it
        self.reader.join(5)
        return code, self.process.stderr.read()


def intake(
    nobat, complaint: str, *symptoms: str, age: int, sex: str = "", acting: tuple[str, ...] = ()
) -> tuple[str, list]:
    """`nobat intake` (by `acting`'s `--as`, if any): the intake's id, and what it printed
    line by line."""
    argv = ["intake", complaint, "--age", str(age), *(["--sex", sex] if sex else []), *acting]
    for reported in symptoms:
        argv += ["--symptom", reported]
    printed = ok(nobat(*argv)).splitlines()
    return printed[0].split()[1].rstrip(":"), printed


def paid_session(nobat, consulted: list[str]) -> str:
    """Pay for the checkout `nobat consult` printed, on the sandbox's page unless it was
    paid from the wallet, and follow it to its clinical session: the session's id."""
    checkout_id = consulted[0].split()[1]
    if consulted[2].startswith("checkout page: "):
        url = consulted[2].removeprefix("checkout page: ")
        assert consulted[3:] == [
            f"pay it: nobat pay {url}",
            f"then: nobat consult-status {checkout_id} --watch 30",
        ]
        assert (
            ok(nobat("pay", url)).splitlines()[-1].endswith("is SUCCEEDED (#1 GATEWAY SUCCEEDED)")
        )
    watched = ok(nobat("consult-status", checkout_id, "--watch", str(SETTLE))).splitlines()
    assert watched[0].startswith(f"checkout {checkout_id} is CONFIRMED: clinical session ")
    session_id = watched[0].rsplit(" ", 1)[1]
    assert watched[2].startswith(
        f"clinical session {session_id} is AWAITING_SYMPTOMS: the symptoms are due by "
    )
    assert watched[3] == (
        f'describe them: nobat symptoms {session_id} "DETAILS" --symptom CODE[:SEVERITY[:DAYS]] …'
    )
    return session_id


def test_a_consultation_from_intake_to_a_completed_chat(stack, seeded, nobat):
    intake_id, printed = intake(
        nobat, "A dry cough for four days", "cough::4", "fever:mild", age=34, sex="female"
    )
    assert printed[0].startswith(f"intake {intake_id}: urgency SOON (triage rules ")
    assert printed[1:4] == [
        "likely conditions:",
        "  CONDITION    CODE         SCORE",
        "  Influenza    influenza       50",
    ]
    assert "red flags    -" in printed
    offers = printed.index("offers:")
    assert printed[offers + 1 : offers + 5] == [
        "  TYPE            PRICE",
        "  chat        25.00 EUR",
        "  video       60.00 EUR",
        "  emergency  100.00 EUR",
    ]
    assert printed[-1] == (
        f"consult: nobat consult {intake_id} --type chat [--doctor D] [--method wallet]"
    )

    consulted = ok(nobat("consult", intake_id, "--type", "chat")).splitlines()
    assert consulted[0].split()[2:4] == ["is", "AWAITING_PAYMENT,"]
    assert consulted[1] == f"25.00 EUR by GATEWAY for a chat consultation (intake {intake_id})"
    session_id = paid_session(nobat, consulted)

    submitted = ok(
        nobat("symptoms", session_id, "Worse at night, no fever", "--symptom", "cough::5")
    ).splitlines()
    consultation_id = submitted[0].split()[1]
    doctor = submitted[0].rsplit(" ", 1)[1]
    assert submitted == [
        f"consultation {consultation_id} is DOCTOR_REVIEW_PENDING with {doctor}",
        "chat consultation for patient-1, urgency SOON",
        f"once a doctor accepts it: nobat chat {consultation_id} --follow",
    ]
    assert doctor in ("doctor-1", "doctor-2", "doctor-3")
    as_doctor = ("--as", f"doctor:{doctor}")
    [row] = [
        line
        for line in ok(nobat("consultations", *as_doctor)).splitlines()
        if consultation_id in line
    ]
    assert row.split()[1:5] == ["chat", "DOCTOR_REVIEW_PENDING", "patient-1", doctor]

    accepted = ok(nobat("accept", consultation_id, *as_doctor)).splitlines()
    assert accepted[0] == f"consultation {consultation_id} is IN_PROGRESS with {doctor}"
    assert accepted[-1] == f"chat: nobat chat {consultation_id} --say TEXT --as doctor:{doctor}"

    following = Follower(stack, "chat", consultation_id, "--follow", *as_doctor)
    try:
        assert ok(nobat("chat", consultation_id, "--say", "Hello doctor")).splitlines() == [
            "#1 patient:patient-1: Hello doctor"
        ]
        said = ok(nobat("chat", consultation_id, "--say", "Hello, tell me more", *as_doctor))
        assert said.splitlines() == [
            "#1 patient:patient-1: Hello doctor",
            f"#2 doctor:{doctor}: Hello, tell me more",
        ]
        following.wait_for(lambda line: line.startswith("#2 "), "second message followed")
    finally:
        code, errors = following.interrupt()
    assert (code, errors) == (0, "")
    assert following.lines == [
        "#1 patient:patient-1: Hello doctor",
        f"#2 doctor:{doctor}: Hello, tell me more",
    ]
    assert ok(nobat("chat", consultation_id)).splitlines() == following.lines
    assert ok(nobat("chat", consultation_id, "--after", "1")).splitlines() == following.lines[1:]

    completed = ok(nobat("complete", consultation_id, "--notes", "Rest, fluids", *as_doctor))
    assert completed.splitlines() == [
        f"consultation {consultation_id} is COMPLETED with {doctor}",
        "chat consultation for patient-1, urgency SOON",
        "notes: Rest, fluids",
    ]
    [row] = [line for line in ok(nobat("consultations")).splitlines() if consultation_id in line]
    assert row.split()[2] == "COMPLETED"

    # The patient's inbox tells the story, in Persian (the seeded contact's language).
    told = {"CONSULTATION_CREATED", "CONSULTATION_ACCEPTED", "CONSULTATION_COMPLETED"}

    def kinds(printed: str) -> set[str]:
        return {line.split()[1] for line in printed.splitlines() if consultation_id in line}

    inbox = eventually(
        lambda: ok(nobat("inbox", "--limit", "100")),
        lambda printed: told <= kinds(printed),
        "consultation notifications",
    )
    assert "مشاوره به پایان رسید" in inbox


def test_the_seeded_wallet_pays_and_a_decline_passes_the_consultation_on(seeded, nobat):
    intake_id, _ = intake(nobat, "Headache", "headache", age=40)
    consulted = ok(
        nobat("consult", intake_id, "--type", "video", "--doctor", "doctor-2", "--method", "wallet")
    ).splitlines()
    checkout_id = consulted[0].split()[1]
    assert consulted[1:] == [
        f"60.00 EUR by WALLET for a video consultation with doctor-2 (intake {intake_id})",
        "paid from the wallet; the clinical session follows in a moment:"
        f" nobat consult-status {checkout_id} --watch 30",
    ]
    session_id = paid_session(nobat, consulted)

    submitted = ok(nobat("symptoms", session_id, "Throbbing", "--symptom", "headache:moderate:2"))
    consultation_id = submitted.split()[1]
    assert submitted.splitlines()[0].endswith("is DOCTOR_REVIEW_PENDING with doctor-2")
    declined = ok(nobat("decline", consultation_id, "--reason", "busy", "--as", "doctor:doctor-2"))
    first = declined.splitlines()[0]
    assert first.startswith(f"consultation {consultation_id} is DOCTOR_REVIEW_PENDING with ")
    assert first.rsplit(" ", 1)[1] in ("doctor-1", "doctor-3")


def test_a_patient_finds_a_paid_session_cancels_the_consultation_and_reads_the_refunds_trail(
    seeded, nobat
):
    intake_id, _ = intake(nobat, "Sore throat", "sore_throat", age=29)
    consulted = ok(nobat("consult", intake_id, "--type", "chat", "--method", "wallet")).splitlines()
    checkout_id = consulted[0].split()[1]
    session_id = paid_session(nobat, consulted)

    waiting = ok(nobat("sessions", "--status", "awaiting_symptoms")).splitlines()
    assert any(
        line.startswith(f"clinical session {session_id} is AWAITING_SYMPTOMS") for line in waiting
    )
    listed = json.loads(ok(nobat("checkouts", "--of", "consultation", "--json")))
    [mine] = [c for c in listed["consultation"]["checkouts"] if c["id"] == checkout_id]
    assert mine["status"] == "CHECKOUT_STATUS_CONFIRMED"
    submitted = ok(nobat("symptoms", session_id, "Hurts to swallow", "--symptom", "sore_throat"))
    consultation_id = submitted.split()[1]

    cancelled = ok(nobat("consult-cancel", consultation_id)).splitlines()
    assert cancelled[0].startswith(f"consultation {consultation_id} is REFUNDED")

    def refund_on_trail() -> str:
        return ok(nobat("payments", "events", mine["paymentId"]))

    trail = eventually(refund_on_trail, lambda out: "refund" in out, "the refund on the trail")
    [refund] = [line for line in trail.splitlines() if " refund " in line]
    assert "consultation (system)" in refund and refund.endswith("patient_cancelled")


def test_a_short_wallet_consultation_is_retried_on_the_gateway(seeded, nobat):
    """Another patient, with no wallet: the failure says how to go on, and consult-retry
    moves the same checkout to the gateway."""
    someone = ("--as", "patient:someone")
    intake_id, _ = intake(nobat, "Headache", "headache", age=40, acting=someone)
    failed = ok(
        nobat("consult", intake_id, "--type", "chat", "--method", "wallet", *someone)
    ).splitlines()
    checkout_id = failed[0].split()[1]
    assert failed[0].startswith(f"checkout {checkout_id} is PAYMENT_FAILED (insufficient_funds")
    assert failed[-1] == (
        f"try again: nobat consult-retry {checkout_id} [--method gateway] --as patient:someone"
    )

    retried = ok(nobat("consult-retry", checkout_id, "--method", "gateway", *someone)).splitlines()
    assert retried[0].startswith(f"checkout {checkout_id} is AWAITING_PAYMENT")
    paying = [line for line in retried if line.startswith("pay it: nobat pay http")]
    assert len(paying) == 1 and paying[0].endswith(" --as patient:someone")


def test_red_flags_print_the_emergency_advice_and_offer_nothing(seeded, nobat):
    intake_id, printed = intake(
        nobat,
        "Crushing chest pain and short of breath",
        *("chest_pain:severe", "shortness_of_breath"),
        age=58,
        sex="male",
    )
    assert printed[0].startswith(f"intake {intake_id}: urgency EMERGENCY (triage rules ")
    flags = printed.index("red flags:")
    assert printed[flags + 1] == (
        "  chest_pain: Call an ambulance or go to an emergency department now: chest pain with"
        " breathlessness can be a heart attack or a clot in the lung."
    )
    assert printed[-1] == (
        "seek emergency care in person now: no online consultation is offered for this"
    )
    assert not any(line.startswith(("offers", "consult:")) for line in printed)

    refused = nobat("consult", intake_id, "--type", "chat")
    assert refused.code == 1 and refused.out == "", refused
    assert refused.err.startswith("error: FAILED_PRECONDITION: ") and refused.err.count("\n") == 1


def test_the_inbox_shows_a_booking_and_reading_marks_it(stack, seeded, nobat):
    contact = ok(
        nobat("contact", "--email", "p1@example.com", "--phone", "+989121234567", "--locale", "en")
    ).splitlines()
    assert contact[0].startswith("contact of patient-1: notifications in en, updated ")
    assert contact[1:] == [
        "channels:",
        "  CHANNEL  ADDRESS         STATE",
        "  email    p1@example.com  enabled",
        "  sms      +989121234567   enabled",
    ]
    assert ok(nobat("contact")).splitlines()[1:] == contact[1:]

    reservation_id = book_from_the_wallet(stack, nobat)
    inbox = eventually(
        lambda: ok(nobat("inbox")),
        lambda printed: reservation_id in printed,
        "reservation notification",
    ).splitlines()
    [head] = [line for line in inbox if reservation_id in line]
    sequence, kind, *_, read, subject = head.split()
    assert (kind, read, subject) == ("RESERVATION_CONFIRMED", "unread", f"({reservation_id})")
    title = inbox[inbox.index(head) + 1]
    assert title == "    Appointment booked"

    assert ok(nobat("read", sequence.lstrip("#"))) == "marked 1 read\n"
    assert reservation_id not in ok(nobat("inbox", "--unread"))
    assert ok(nobat("read", sequence.lstrip("#"))) == "marked 0 read (they were read already)\n"
    newest = int(ok(nobat("inbox", "--limit", "1")).split()[0].lstrip("#"))
    assert ok(nobat("read", "--all")).startswith("marked ")
    # Only what came since (a late notification of an earlier test's) is unread.
    unread = ok(nobat("inbox", "--unread")).splitlines()
    assert all(int(line.split()[0][1:]) > newest for line in unread if line.startswith("#"))


def book_from_the_wallet(stack, nobat) -> str:
    """A reservation of the demo patient's with doctor-1, paid from the wallet: its id."""
    slot = _free_slot(nobat, "doctor-1", stack.local.now())
    checkout_id = ok(nobat("book", slot, "--method", "wallet")).split()[1]
    confirmed = ok(nobat("checkout", checkout_id, "--watch", str(SETTLE))).splitlines()[0]
    assert f"checkout {checkout_id} is CONFIRMED: reservation " in confirmed
    return confirmed.rsplit(" ", 1)[1]


def test_inbox_follow_prints_each_notification_as_it_comes_until_ctrl_c(stack, seeded, nobat):
    newest = ok(nobat("inbox", "--limit", "1")).split()[0]
    after = newest.lstrip("#") if newest.startswith("#") else "0"
    following = Follower(stack, "inbox", "--follow", "--after", after)
    try:
        reservation_id = book_from_the_wallet(stack, nobat)
        head = following.wait_for(lambda line: reservation_id in line, "notification followed")
    finally:
        code, errors = following.interrupt()
    assert (code, errors) == (0, "")
    assert head.split()[1] == "RESERVATION_CONFIRMED"
    heads = [line for line in following.lines if line.startswith("#")]
    assert all(int(line.split()[0][1:]) > int(after) for line in heads)  # none up to --after


def test_failures_are_one_line_and_exit_1(seeded, nobat):
    unknown = "3f2c9a4e-8b1d-4c7a-9e2f-5d6b7a8c9d0e"
    doctor = ("--as", "doctor:doctor-1")
    for argv, line in [
        (
            ("intake", "x", "--symptom", "no_such_code", "--age", "30"),
            "error: INVALID_ARGUMENT: symptoms[0].code: 'no_such_code' is not a symptom code",
        ),
        (("consult", unknown, "--type", "chat"), "error: NOT_FOUND: "),
        (("consult-status", unknown), "error: NOT_FOUND: no checkout"),
        (("symptoms", unknown, "details"), "error: NOT_FOUND: "),
        (("accept", unknown, *doctor), "error: NOT_FOUND: consultation"),
        (("accept", unknown, "--as", "patient:patient-1"), "error: PERMISSION_DENIED: role"),
        (("chat", unknown), "error: NOT_FOUND: consultation"),
        (("chat", "not-an-id", "--follow"), "error: INVALID_ARGUMENT: consultation_id: "),
        (("contact", "--email", "not-an-address"), "error: INVALID_ARGUMENT: channels[0]"),
        (("read", "99999"), "error: no notification #99999 in the inbox"),
        (("read",), "error: name the notifications by number (read 3 4), or say --all"),
    ]:
        ran = nobat(*argv)
        assert ran.code == 1 and ran.out == "", ran
        assert ran.err.startswith(line) and ran.err.count("\n") == 1, ran


@pytest.mark.parametrize(
    ("text", "reported"),
    [
        ("cough", cpb.ReportedSymptom(code="cough")),
        ("fever:severe", cpb.ReportedSymptom(code="fever", severity=cpb.SYMPTOM_SEVERITY_SEVERE)),
        ("cough::4", cpb.ReportedSymptom(code="cough", days_since_onset=4)),
        (
            "headache:mild:2",
            cpb.ReportedSymptom(
                code="headache", severity=cpb.SYMPTOM_SEVERITY_MILD, days_since_onset=2
            ),
        ),
    ],
)
def test_a_symptom_is_code_severity_and_days(text, reported):
    assert symptom(text) == reported


@pytest.mark.parametrize("text", ["", ":mild", "cough:bad", "cough:mild:two", "cough::-1"])
def test_a_malformed_symptom_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="is not CODE"):
        symptom(text)


def test_a_queued_consultation_says_it_waits_for_a_doctor_on_shift():
    queued = cpb.Consultation(
        id="c-1",
        patient_id="patient-1",
        type=cpb.CONSULTATION_TYPE_VIDEO,
        status=cpb.CONSULTATION_STATUS_WAITING_FOR_DOCTOR,
        triage=cpb.Triage(urgency=cpb.URGENCY_URGENT),
    )
    assert consultation_text(queued).splitlines() == [
        "consultation c-1 is WAITING_FOR_DOCTOR: waiting for a doctor on shift",
        "video consultation for patient-1, urgency URGENT",
    ]
