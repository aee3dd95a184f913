"""Notification's domain: contacts, the facts worth telling people, notifications rendered
in the recipient's language, and deliveries with their retry rules. Plain Python: no
database, network or protobuf here."""
