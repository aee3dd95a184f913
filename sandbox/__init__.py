"""A Stripe-compatible payment gateway for development and tests, run as its own process.

It speaks the part of Stripe's REST API nobat uses (checkout sessions and refunds) as
Stripe does (its currencies and amounts, objects, events, error codes and idempotency;
tests/component/sandbox holds it to the official SDK's types), serves a hosted checkout
page with Pay / Decline / Cancel, and sends the endpoint's enabled events signed as
Stripe signs them. Switches under /_sandbox make it
misbehave as real gateways do: duplicate, reorder, delay and drop webhooks, take a wrong
amount, sign badly, and perform a call but lose its answer. Everything is in memory.
"""
