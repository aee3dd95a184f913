"""The consultation context's rules in plain Python: intake and triage, offers and prices,
pay-first checkouts, clinical sessions, consultations, doctors' shifts and assignment,
chat and the audit log's entries.

Nothing here reads a clock, touches a database or a network: "now" and new ids come in
as arguments, and the facts an entity produces wait in its `events` list until the
handler writes them to the outbox in the same commit as the entity. The triage rule
table is data (`triage_rules.toml`), read once by the composition root.
"""
