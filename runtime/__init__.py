"""The shared runtime every nobat service stands on.

Configuration, logging, the unit of work, the transactional outbox and its relay, the
inbox and the durable consumer loop, idempotency keys, auth, error mapping and the gRPC
server. Services import from here; nothing here imports a service.
"""
