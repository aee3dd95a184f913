"""A Stripe-compatible payment gateway for development and tests, run as its own process.

It speaks the part of Stripe's REST API nobat uses (checkout sessions and refunds) the
way the official SDK expects, serves a hosted checkout page with Pay / Decline / Cancel,
and sends webhooks signed as Stripe signs them. Switches under /_sandbox make it
misbehave as real gateways do: duplicate, reorder, delay and drop webhooks, take a wrong
amount, sign badly, and perform a call but lose its answer. Everything is in memory.
"""
