"""Every read of clinical data is an audit entry; no event carries clinical text or
contact details."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from purchasing import events as purchasing_events
from services.consultation.domain import events
from services.consultation.domain.audit import AuditEntry, SubjectKind
from services.consultation.domain.caller import Role
from tests.unit.consultation.builders import NOW, PATIENT

# Nothing an event may name: clinical text, and the contact details notification owns.
FORBIDDEN = {
    "complaint",
    "details",
    "symptoms",
    "notes",
    "text",
    "reason_text",
    "national_id",
    "phone",
    "email",
    "name",
    "triage",
}


def entry(**overrides) -> AuditEntry:
    fields: dict = {
        "entry_id": "audit-1",
        "caller": PATIENT,
        "action": "GetConsultation",
        "subject_kind": SubjectKind.CONSULTATION,
        "subject_id": "consultation-1",
        "now": NOW,
    }
    fields.update(overrides)
    return AuditEntry.of(**fields)


def test_an_audit_entry_says_who_did_what_to_which_record_when_and_from_where():
    assert entry() == AuditEntry(
        "audit-1",
        "patient-1",
        Role.PATIENT,
        "GetConsultation",
        SubjectKind.CONSULTATION,
        "consultation-1",
        "203.0.113.7",
        "nobat-android/3.1",
        NOW,
    )


def test_an_audit_entry_needs_a_subject_and_a_utc_time():
    with pytest.raises(ValueError):
        entry(subject_id="")
    with pytest.raises(ValueError):
        entry(now=datetime(2027, 3, 1))


def event_classes() -> list[type]:
    """Consultation's own facts, and what it tells payment (purchasing's)."""
    return [
        value
        for module in (events, purchasing_events)
        for value in vars(module).values()
        if dataclasses.is_dataclass(value) and value.__module__ == module.__name__
    ]


def test_events_are_frozen_facts_carrying_no_clinical_text_or_contact_details():
    classes = event_classes()

    assert len(classes) == 11
    for event in classes:
        assert event.__dataclass_params__.frozen, event
        assert not {f.name for f in dataclasses.fields(event)} & FORBIDDEN, event
