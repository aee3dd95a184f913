"""A handler that runs longer than the ack wait is not handed to another worker meanwhile."""

from __future__ import annotations

from tests.integration.runtime.probe import PROBE_STREAM
from tests.integration.runtime.test_exactly_once import assert_each_effect_once, commit_events


async def test_a_handler_longer_than_the_ack_wait_is_delivered_once(engine, js, probes):
    # JetStream would deliver the event again after 1.2 s, to the other replica, without
    # the consumer's "still working" beats (every ack wait / 3); the handler takes 3 s.
    replicas = [probes(NOBAT_CONSUMER_ACK_WAIT_SECONDS="1.2") for _ in range(2)]
    for replica in replicas:
        await replica.wait_serving()
    await commit_events(engine, ["slow-3", "after-it"])

    await assert_each_effect_once(engine, ["slow-3", "after-it"])
    info = await js.consumer_info(PROBE_STREAM.name, "probe")
    # Each delivery, a redelivery too, takes a consumer sequence number; two events, two.
    assert info.delivered.consumer_seq == info.delivered.stream_seq == 2, info.delivered
    assert info.num_ack_pending == 0
