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


@dataclass(frozen=True)
class Registered:
    contact: Contact
    # The webhook's signing secret when this registration made it, for its owner to see
    # this once; "" when the contact kept its secret or has no webhook.
    new_signing_secret: str = ""


async def register_contact(ctx: Context, uow: NotificationUnit, cmd: RegisterContact) -> Registered:
    """Creates or replaces the user's contact; notifications created from now on use it."""
    async with uow:
        previous = await uow.contacts.get(cmd.user_id)
        contact = Contact.register(
            user_id=cmd.user_id,
            locale=cmd.locale,
            channels=cmd.channels,
            now=ctx.clock(),
            previous=previous,
            development=ctx.settings.development,
        )
        await uow.contacts.save(contact)
        await uow.commit()
    kept = previous.signing_secret if previous else ""
    new = contact.signing_secret if contact.signing_secret != kept else ""
    return Registered(contact, new)
