"""The bare baseline: an aiokafka consumer → producer pipe that forwards bytes, nothing else.

    python -m bench.pipe BOOTSTRAP IN_TOPIC OUT_TOPIC GROUP

Library defaults except ``acks=all`` (as the router's producer) and reading from
the earliest offset; offsets auto-committed. It runs in a process of its own,
as the router does, so both pay for the same process boundaries.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def pipe(bootstrap: str, source: str, target: str, group: str) -> None:
    consumer = AIOKafkaConsumer(
        source, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest"
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    await consumer.start()
    try:
        async for message in consumer:
            await producer.send(target, key=message.key, value=message.value)
    finally:
        await consumer.stop()
        await producer.stop()


def main(argv: list[str]) -> int:
    bootstrap, source, target, group = argv
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(pipe(bootstrap, source, target, group))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
