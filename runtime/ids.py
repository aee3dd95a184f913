"""Ids derived from what makes a thing unique, the same however often they are derived.

A retried handler, a redelivered event, a request repeated under its key: each derives the
ids of what it makes from what makes that thing unique (a patient and their idempotency
key, a payment and an attempt's number), so a second run names the rows the first made and
their primary keys refuse a second copy. The ids are name-based UUIDs (version 5) in each
service's own namespace.

The name is the parts joined by "/", each part with "%" and "/" percent-escaped first, so
two different lists of parts never share a name, whatever a caller puts in a subject or a
key: patient "a" with key "b/c" is "a/b%2Fc" and patient "a/b" with key "c" is "a%2Fb/c"
(a plain join made both "a/b/c", and the second patient got the first's top-up).

A part holding neither character is written as it is, so a thing whose parts never held
one keeps the id the plain join gave it: rows made before are found again by the same
derivation (a slot redone by a new schedule, a notification of a re-published fact).
"""

from __future__ import annotations

import uuid


def name_of(*parts: object) -> str:
    """The name an id is derived from: each part's text escaped, then joined by "/"."""
    if not parts:
        raise ValueError("an id is derived from at least one part")
    return "/".join(str(part).replace("%", "%25").replace("/", "%2F") for part in parts)


def derived_id(namespace: uuid.UUID, *parts: object) -> str:
    """The id, in `namespace`, of the thing `parts` make unique."""
    return str(uuid.uuid5(namespace, name_of(*parts)))


def namespace(context: str) -> uuid.UUID:
    """A bounded context's own namespace, so two contexts never derive the same id."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"urn:nobat:{context}")
