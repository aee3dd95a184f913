"""Idempotency keys for mutating RPCs: one effect and one answer per key.

The key is claimed by inserting its row in the same transaction as the effect, and the
answer is stored in that row before the commit. A concurrent request with the same key
waits on the row's unique index until the first commits, then reads its answer; if the
first rolled back, the second goes ahead as if it were first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from google.protobuf.message import Message
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from runtime import auth
from runtime.db import UnitOfWork
from runtime.errors import IdempotencyKeyReused, InvalidArgument, RefusedAfterEffect
from runtime.retry import retrying
from runtime.schema import idempotency_keys
from runtime.unit import Unit

R = TypeVar("R", bound=Message)
U = TypeVar("U", bound=Unit)


class Idempotent(Protocol):
    """A mutating RPC's request: whichever message it is, it carries the caller's key."""

    idempotency_key: str

    def SerializeToString(self, *, deterministic: bool = ...) -> bytes: ...


MAX_KEY_LENGTH = 255


async def answer_once(
    uow: UnitOfWork,
    *,
    scope: str,
    key: str,
    request: Idempotent,
    response_type: type[R],
    answer: Callable[[], Awaitable[R]],
) -> R:
    """Run `answer` once for this request's idempotency key and store what it returns.

    `scope` separates callers and methods (`StartCheckout/patient/patient-42`, see
    `caller_scope`), so two callers who happen to choose the same key never see each
    other's answers.
    """
    if not key:
        raise InvalidArgument("idempotency_key", "is required for this call")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArgument("idempotency_key", f"must be at most {MAX_KEY_LENGTH} characters")
    request_hash = hashlib.sha256(request.SerializeToString(deterministic=True)).digest()
    where = (idempotency_keys.c.scope == scope) & (idempotency_keys.c.key == key)

    async def attempt() -> R:
        async with uow:
            claimed = await uow.session.execute(
                pg_insert(idempotency_keys)
                .values(scope=scope, key=key, request_hash=request_hash)
                .on_conflict_do_nothing()
                .returning(idempotency_keys.c.key)
            )
            if claimed.first() is None:
                first = (
                    await uow.session.execute(
                        select(idempotency_keys.c.request_hash, idempotency_keys.c.response).where(
                            where
                        )
                    )
                ).one()
                if first.request_hash != request_hash:
                    raise IdempotencyKeyReused()
                return response_type.FromString(first.response)
            try:
                response = await answer()
            except RefusedAfterEffect as refusal:
                await uow.session.execute(delete(idempotency_keys).where(where))
                await uow.commit()
                raise refusal.error from None
            await uow.session.execute(
                update(idempotency_keys).where(where).values(response=response.SerializeToString())
            )
            await uow.commit()
            return response

    return await retrying(attempt)


async def answer_call(
    uow: U,
    method: str,
    request: Idempotent,
    response_type: type[R],
    answer: Callable[[U], Awaitable[R]],
) -> R:
    """`answer_once` for a mutating RPC: keyed by the request's idempotency_key, scoped to
    the method and the verified caller, with `answer` run in the same unit of work. The
    servicer knows its unit as its handlers do (the service's Unit protocol); the keys are
    kept in its database, so it must be the database's unit."""
    if not isinstance(uow, UnitOfWork):
        raise TypeError(f"idempotency keys are kept by the database's unit, not {uow!r}")
    return await answer_once(
        uow,
        scope=caller_scope(method),
        key=request.idempotency_key,
        request=request,
        response_type=response_type,
        answer=lambda: answer(uow),
    )


def caller_scope(method: str) -> str:
    """Whose keys a key of `method` is among: the verified caller's, by role and subject.
    The role is part of it because a subject names a person only within one role: one
    person may call as a patient and as a doctor, and a service's name may be some user's
    subject too, and neither may be answered with the other's stored answers. The subject
    goes last, so whatever it holds ("/" included) no two callers share a scope."""
    caller = auth.current_caller()
    return f"{method}/{caller.role}/{caller.subject}"
