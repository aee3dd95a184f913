"""Each service's map (COMMANDS, EVENTS, JOBS at the top of its handlers package) follows
one convention, so a reader who knows one service finds any handler of another by name:
a handler is named after the command or event it takes, and takes the context, a unit of
work and that one object."""

from __future__ import annotations

import dataclasses
import importlib
import inspect

import pytest

from runtime.handling import handler_name

SERVICES = ("booking", "consultation", "notification", "payment")


def tables(service: str):
    return importlib.import_module(f"services.{service}.handlers")


@pytest.mark.parametrize("service", SERVICES)
def test_every_handler_is_named_after_what_it_takes_and_takes_only_that(service: str):
    handlers = tables(service)
    for kind, handler in {**handlers.COMMANDS, **handlers.EVENTS}.items():
        assert dataclasses.is_dataclass(kind), kind
        assert handler.__name__ == handler_name(kind), (kind, handler)
        takes = list(inspect.signature(handler).parameters)
        assert takes in (["ctx", "uow", "cmd"], ["ctx", "uow", "news"]), handler


@pytest.mark.parametrize("service", SERVICES)
def test_every_job_is_named_and_takes_only_the_context(service: str):
    for name, job in tables(service).JOBS.items():
        assert name == name.lower() and " " not in name
        assert list(inspect.signature(job).parameters) == ["ctx"], job


def test_handler_names_follow_the_class_name():
    @dataclasses.dataclass
    class StartCheckout:
        pass

    assert handler_name(StartCheckout) == "start_checkout"
