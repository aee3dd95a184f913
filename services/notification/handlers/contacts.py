"""Contacts: registering how a user is reached and in which language."""

from __future__ import annotations

from dataclasses import dataclass

from services.notification.domain.contact import Contact, ContactChannel, Locale
from services.notification.handlers.context import Context
from services.notification.handlers.unit_of_work import NotificationUnit


@dataclass(frozen=True)
class RegisterContact:
    user_id: str
    locale: Locale
    channels: tuple[ContactChannel, ...]


async def register_contact(ctx: Context, uow: NotificationUnit, cmd: RegisterContact) -> Contact:
    """Creates or replaces the user's contact; notifications created from now on use it."""
    contact = Contact.register(
        user_id=cmd.user_id,
        locale=cmd.locale,
        channels=cmd.channels,
        now=ctx.clock(),
        allow_http_webhooks=ctx.settings.allow_http_webhooks,
    )
    async with uow:
        await uow.contacts.save(contact)
        await uow.commit()
    return contact
