"""The booking context's rules in plain Python: doctors and their weekly schedules, slots
and their holds, checkouts, reservations and the cancellation refund policy.

Nothing here reads a clock, touches a database or a network: "now" and new ids come in
as arguments, and the facts an entity produces wait in its `events` list until the
handler writes them to the outbox in the same commit as the entity.
"""
