"""Who states which facts and who reads them: the one table NATS permissions come from.

Each service publishes on its own stream only, and reads other streams through durable
consumers of known names. From that, `nats_permissions` gives each service's NATS user
exactly what it needs and nothing more: to publish its own subjects, to manage its own
stream, to create, fetch from and ack its own consumers, and to receive replies on an
inbox prefix of its own (so it cannot read another service's replies). Booking's
credentials therefore cannot state PaymentConfirmed: NATS refuses the publish.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.events import BOOKING, CONSULTATION, PAYMENT, Stream

JS_API = "$JS.API"


@dataclass(frozen=True)
class Reader:
    """A durable consumer `durable` on `stream`."""

    stream: Stream
    durable: str


@dataclass(frozen=True)
class Wiring:
    publishes: Stream | None
    reads: tuple[Reader, ...] = ()

    def reader(self, stream: Stream, durable: str) -> Reader:
        """The declared reader, or ValueError: a consumer the table does not know would
        be refused by NATS in production, so it is refused here first."""
        wanted = Reader(stream, durable)
        if wanted not in self.reads:
            raise ValueError(
                f"no consumer {durable} on {stream.name} in runtime.wiring: declare it there,"
                " where NATS permissions come from"
            )
        return wanted


WIRING: dict[str, Wiring] = {
    "payment": Wiring(PAYMENT, (Reader(BOOKING, "payment"), Reader(CONSULTATION, "payment"))),
    "booking": Wiring(BOOKING, (Reader(PAYMENT, "booking"),)),
    "consultation": Wiring(
        CONSULTATION,
        (Reader(PAYMENT, "consultation"), Reader(BOOKING, "consultation-directory")),
    ),
    "notification": Wiring(
        None,
        tuple(
            Reader(stream, f"notification-{stream.name.lower()}")
            for stream in (PAYMENT, BOOKING, CONSULTATION)
        ),
    ),
}


def inbox_prefix(service: str) -> str:
    """Where a service's replies come (PubAcks, fetched messages, API answers)."""
    return f"_INBOX_{service}"


def nats_permissions(service: str, wiring: Wiring | None = None) -> dict[str, dict[str, list]]:
    """The NATS `permissions` block of `service`'s user."""
    wiring = wiring or WIRING[service]
    publish: list[str] = []
    if wiring.publishes is not None:
        own = wiring.publishes
        publish += list(own.subjects)
        publish += [f"{JS_API}.STREAM.{verb}.{own.name}" for verb in ("CREATE", "UPDATE", "INFO")]
    for reader in wiring.reads:
        at = f"{reader.stream.name}.{reader.durable}"
        publish += [
            f"{JS_API}.CONSUMER.CREATE.{at}",
            f"{JS_API}.CONSUMER.CREATE.{at}.>",
            f"{JS_API}.CONSUMER.INFO.{at}",
            f"{JS_API}.CONSUMER.MSG.NEXT.{at}",
            f"$JS.ACK.{at}.>",
        ]
    return {
        "publish": {"allow": publish},
        "subscribe": {"allow": [f"{inbox_prefix(service)}.>"]},
    }


# The operators' read-only user (`nobat check`, dashboards): it sees streams and consumers,
# and states nothing.
OBSERVER = "observer"


def observer_permissions() -> dict[str, dict[str, list]]:
    return {
        "publish": {
            "allow": [
                f"{JS_API}.INFO",
                f"{JS_API}.STREAM.NAMES",
                f"{JS_API}.STREAM.LIST",
                f"{JS_API}.STREAM.INFO.*",
                f"{JS_API}.CONSUMER.NAMES.*",
                f"{JS_API}.CONSUMER.LIST.*",
                f"{JS_API}.CONSUMER.INFO.*.*",
            ]
        },
        "subscribe": {"allow": [f"{inbox_prefix(OBSERVER)}.>"]},
    }
