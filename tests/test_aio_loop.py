"""No call of the asyncio API blocks the event loop.

A ticker task asks to run every 5 ms while the producer, consumer and admin client work through many
records on the same loop. The largest gap between two ticks stays far below 250 ms: this is a
correctness check (a time.sleep, a blocking socket call or a thread join on the loop would show up
as a gap as long as the wait), not a performance measurement.
"""

from __future__ import annotations

import asyncio

from kafkakit.aio import AIOKafkaAdminClient, AIOKafkaConsumer, AIOKafkaProducer
from kafkakit.client.admin import NewTopic
from kafkakit.structs import TopicPartition
from tests.test_aio_support import Ticker, run

N = 30_000
MAX_GAP = 0.25


def test_produce_consume_admin_never_block_the_loop(
    bootstrap: str, bootstrap_broker: str, topic_name: str
) -> None:
    topic = topic_name
    tps = [TopicPartition(topic, p) for p in range(3)]

    async def produce(p: AIOKafkaProducer) -> None:
        futs = [await p.send(topic, b"%07d" % i + b"." * 93, key=b"%d" % (i % 50)) for i in range(N)]
        await p.flush(60)
        assert all(f.succeeded() for f in futs)

    async def consume(c: AIOKafkaConsumer) -> int:
        seen = 0
        while seen < N // 2:
            for recs in (await c.getmany(timeout_ms=500)).values():
                seen += len(recs)
        async for _record in c:
            seen += 1
            if seen == N:
                break
        return seen

    async def body() -> Ticker:
        with Ticker(0.005) as ticker:
            async with AIOKafkaAdminClient(bootstrap_servers=bootstrap) as admin:
                await admin.create_topics([NewTopic(topic, 3, 1)])
                await admin.wait_for_topics([topic])
                async with (
                    AIOKafkaProducer(
                        bootstrap_servers=bootstrap, linger_ms=5, compression_type="lz4", retries=5
                    ) as p,
                    AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest") as c,
                ):
                    c.assign(tps)
                    _, seen = await asyncio.gather(produce(p), consume(c))
                    assert seen == N
                    if bootstrap_broker != "tansu":  # tansu's ListOffsets(latest) is batch-based
                        assert sum((await c.end_offsets(tps)).values()) == N
                await admin.delete_topics([topic])
        return ticker

    ticker = run(body())
    print(f"max gap {ticker.max_gap * 1000:.1f} ms over {ticker.ticks} ticks")
    assert ticker.ticks > 0
    assert ticker.max_gap < MAX_GAP, f"the event loop was blocked for {ticker.max_gap * 1000:.0f} ms"
