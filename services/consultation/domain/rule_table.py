"""The default triage: a transparent rule table shipped as data.

The rules live in `triage_rules.toml` beside this module, which explains them in words;
this module reads the file once at start-up, checks every reference in it, and applies
it. Scores, urgency, red flags and offers are computed exactly as the file says, so any
result can be explained by pointing at lines of it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.consultation.domain.errors import UnknownSymptom
from services.consultation.domain.offers import ConsultationType
from services.consultation.domain.triage import (
    MAX_AGE_YEARS,
    LikelyCondition,
    RedFlag,
    ReportedSymptom,
    Severity,
    Sex,
    Triage,
    Urgency,
)

RULES_PATH = Path(__file__).with_name("triage_rules.toml")
MAX_SCORE = 100


class RuleTableError(ValueError):
    """The rule table file is malformed; raised at start-up, never to a caller."""


@dataclass(frozen=True)
class _Fit:
    """Which patients a condition or red flag can apply to."""

    sexes: frozenset[Sex]
    min_age: int
    max_age: int

    def admits(self, age_years: int, sex: Sex | None) -> bool:
        # An unknown or "other" sex rules nothing out.
        ruled_out = self.sexes and sex in (Sex.FEMALE, Sex.MALE) and sex not in self.sexes
        return self.min_age <= age_years <= self.max_age and not ruled_out


@dataclass(frozen=True)
class _Condition:
    name: str
    fit: _Fit


@dataclass(frozen=True)
class _Symptom:
    urgency: Urgency
    when_severe: Urgency | None
    # (days, urgency): at least that urgency once it has lasted that many days.
    when_lasting: tuple[int, Urgency] | None
    weights: Mapping[str, int]

    def urgency_of(self, reported: ReportedSymptom) -> Urgency:
        found = [self.urgency]
        if self.when_severe is not None and reported.severity is Severity.SEVERE:
            found.append(self.when_severe)
        if self.when_lasting is not None and reported.days_since_onset is not None:
            days, urgency = self.when_lasting
            if reported.days_since_onset >= days:
                found.append(urgency)
        return max(found)


@dataclass(frozen=True)
class _RedFlagRule:
    symptom: str
    also: frozenset[str]
    min_severity: Severity | None
    fit: _Fit
    advice: str

    def raised_by(
        self, reported: Mapping[str, ReportedSymptom], age_years: int, sex: Sex | None
    ) -> bool:
        flagged = reported.get(self.symptom)
        if flagged is None or not self.also <= reported.keys():
            return False
        if self.min_severity is not None and (flagged.severity or 0) < self.min_severity:
            return False
        return self.fit.admits(age_years, sex)


@dataclass(frozen=True)
class RuleTable:
    """The default TriagePort: see triage_rules.toml for the rules in words."""

    version: str
    max_conditions: int
    offers: Mapping[Urgency, tuple[ConsultationType, ...]]
    conditions: Mapping[str, _Condition]
    symptoms: Mapping[str, _Symptom]
    red_flags: tuple[_RedFlagRule, ...]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RuleTable:
        return _Reader(data).table()

    @property
    def symptom_codes(self) -> frozenset[str]:
        return frozenset(self.symptoms)

    def triage(
        self, symptoms: Sequence[ReportedSymptom], *, age_years: int, sex: Sex | None
    ) -> Triage:
        unknown = [(i, s.code) for i, s in enumerate(symptoms) if s.code not in self.symptoms]
        if unknown:
            raise UnknownSymptom(unknown)
        reported = {symptom.code: symptom for symptom in symptoms}
        # Every rule that fires is kept, so reporting one more symptom can only add advice,
        # never swap one warning for another.
        flags: dict[tuple[str, str], RedFlag] = {}
        for rule in self.red_flags:
            if rule.raised_by(reported, age_years, sex):
                flags.setdefault((rule.symptom, rule.advice), RedFlag(rule.symptom, rule.advice))
        urgency = max(
            (self.symptoms[code].urgency_of(symptom) for code, symptom in reported.items()),
            default=Urgency.ROUTINE,
        )
        if flags:
            urgency = Urgency.EMERGENCY
        return Triage(
            likely_conditions=self._likely_conditions(reported, age_years, sex),
            urgency=urgency,
            red_flags=tuple(flags.values()),
            allowed_types=self.offers[urgency],
            rules_version=self.version,
        )

    def _likely_conditions(
        self, reported: Mapping[str, ReportedSymptom], age_years: int, sex: Sex | None
    ) -> tuple[LikelyCondition, ...]:
        scores: dict[str, int] = {}
        for code in reported:
            for condition, weight in self.symptoms[code].weights.items():
                if self.conditions[condition].fit.admits(age_years, sex):
                    scores[condition] = scores.get(condition, 0) + weight
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        return tuple(
            LikelyCondition(code, self.conditions[code].name, min(score, MAX_SCORE))
            for code, score in ranked[: self.max_conditions]
        )


def load_rule_table(path: Path = RULES_PATH) -> RuleTable:
    """Read the rule table file; RuleTableError says what is wrong with it, and where."""
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise RuleTableError(f"{path}: {error}") from error
    try:
        return RuleTable.from_mapping(data)
    except RuleTableError as error:
        raise RuleTableError(f"{path}: {error}") from None


class _Reader:
    """Turns the parsed file into a RuleTable, checking every reference on the way."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    def table(self) -> RuleTable:
        version = self.data.get("version")
        if not isinstance(version, str) or not version.strip():
            raise RuleTableError("version: a non-empty string is required")
        conditions = {
            code: _Condition(self._text(entry, f"{at}.name"), self._fit(entry, at))
            for code, entry, at in self._entries("conditions")
        }
        symptoms = {
            code: self._symptom(entry, at, conditions)
            for code, entry, at in self._entries("symptoms")
        }
        red_flags = self.data.get("red_flags", [])
        if not isinstance(red_flags, list) or not all(isinstance(e, Mapping) for e in red_flags):
            raise RuleTableError("red_flags: an array of tables is required")
        return RuleTable(
            version=version,
            max_conditions=self._count(self.data.get("max_conditions"), "max_conditions"),
            offers=self._offers(),
            conditions=conditions,
            symptoms=symptoms,
            red_flags=tuple(
                self._red_flag(entry, f"red_flags[{index}]", symptoms)
                for index, entry in enumerate(red_flags)
            ),
        )

    def _entries(self, key: str) -> list[tuple[str, Mapping[str, Any], str]]:
        entries = self._table(self.data, key)
        for code, entry in entries.items():
            if not isinstance(entry, Mapping):
                raise RuleTableError(f"{key}.{code}: a table is required")
        return [(code, entry, f"{key}.{code}") for code, entry in entries.items()]

    def _offers(self) -> dict[Urgency, tuple[ConsultationType, ...]]:
        table = self._table(self.data, "offers")
        offers = {}
        for urgency in Urgency:
            names = table.get(urgency.name.lower())
            if not isinstance(names, list):
                raise RuleTableError(f"offers.{urgency.name.lower()}: a list of types is required")
            try:
                offers[urgency] = tuple(ConsultationType(name) for name in names)
            except ValueError as error:
                raise RuleTableError(f"offers.{urgency.name.lower()}: {error}") from None
        if offers[Urgency.EMERGENCY]:
            raise RuleTableError("offers.emergency: must be empty, care in person only")
        return offers

    def _symptom(
        self, entry: Mapping[str, Any], at: str, conditions: Mapping[str, _Condition]
    ) -> _Symptom:
        self._text(entry, f"{at}.name")
        weights = self._table(entry, "conditions", at)
        for condition, weight in weights.items():
            if condition not in conditions:
                raise RuleTableError(f"{at}.conditions: unknown condition {condition!r}")
            if type(weight) is not int or not 1 <= weight <= MAX_SCORE:
                raise RuleTableError(f"{at}.conditions.{condition}: a weight from 1 to 100")
        lasting = entry.get("when_lasting")
        if lasting is not None:
            if not isinstance(lasting, Mapping):
                raise RuleTableError(f"{at}.when_lasting: a table of days and urgency")
            lasting = (
                self._count(lasting.get("days"), f"{at}.when_lasting.days"),
                self._urgency(lasting.get("urgency"), f"{at}.when_lasting.urgency"),
            )
        severe = entry.get("when_severe")
        return _Symptom(
            urgency=self._urgency(entry.get("urgency"), f"{at}.urgency"),
            when_severe=None if severe is None else self._urgency(severe, f"{at}.when_severe"),
            when_lasting=lasting,
            weights=dict(weights),
        )

    def _red_flag(
        self, entry: Mapping[str, Any], at: str, symptoms: Mapping[str, _Symptom]
    ) -> _RedFlagRule:
        also = entry.get("with", [])
        if not isinstance(also, list):
            raise RuleTableError(f"{at}.with: a list of symptom codes is required")
        codes = [entry.get("symptom"), *also]
        unknown = [code for code in codes if code not in symptoms]
        if unknown:
            raise RuleTableError(f"{at}: unknown symptoms {unknown}")
        severity = entry.get("min_severity")
        try:
            min_severity = None if severity is None else Severity[str(severity).upper()]
        except KeyError:
            raise RuleTableError(f"{at}.min_severity: mild, moderate or severe") from None
        return _RedFlagRule(
            symptom=codes[0],
            also=frozenset(codes[1:]),
            min_severity=min_severity,
            fit=self._fit(entry, at),
            advice=self._text(entry, f"{at}.advice"),
        )

    def _fit(self, entry: Mapping[str, Any], at: str) -> _Fit:
        try:
            sexes = frozenset(Sex(name) for name in entry.get("sexes", []))
        except (ValueError, TypeError) as error:
            raise RuleTableError(f"{at}.sexes: {error}") from None
        min_age = entry.get("min_age", 0)
        max_age = entry.get("max_age", MAX_AGE_YEARS)
        if not (type(min_age) is int and type(max_age) is int and 0 <= min_age <= max_age):
            raise RuleTableError(f"{at}: min_age and max_age must be ages, the least first")
        return _Fit(sexes, min_age, max_age)

    @staticmethod
    def _table(entry: Mapping[str, Any], key: str, at: str = "") -> Mapping[str, Any]:
        value = entry.get(key)
        if not isinstance(value, Mapping) or not value:
            raise RuleTableError(f"{at}.{key}".lstrip(".") + ": a non-empty table is required")
        return value

    @staticmethod
    def _text(entry: Mapping[str, Any], at: str) -> str:
        value = entry.get(at.rsplit(".", 1)[-1])
        if not isinstance(value, str) or not value.strip():
            raise RuleTableError(f"{at}: a non-empty string is required")
        return value

    @staticmethod
    def _count(value: object, at: str) -> int:
        if type(value) is not int or value < 1:
            raise RuleTableError(f"{at}: a whole number, 1 or more")
        return value

    @staticmethod
    def _urgency(value: object, at: str) -> Urgency:
        # Only a red flag makes an emergency, so the cause of one is always named.
        allowed = {u.name.lower(): u for u in Urgency if u is not Urgency.EMERGENCY}
        if value not in allowed:
            raise RuleTableError(f"{at}: one of {', '.join(allowed)}")
        return allowed[str(value)]
