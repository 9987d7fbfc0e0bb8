#!/usr/bin/env python3
"""The independent NATS client of the interop tests (nats-py): sets up JetStream streams,
publishes CloudEvents (binary: ce- headers; structured: application/cloudevents+json) over
core NATS or JetStream, and reads streams back. Prints one JSON line per message read.

    nats_client.py js-setup STREAM SUBJECTS [DURABLE]
    nats_client.py js-delete STREAM
    nats_client.py pub SUBJECT COUNT MODE core|js [ID_PREFIX]   MODE: binary | structured | raw
    nats_client.py js-get STREAM COUNT TIMEOUT_S
    nats_client.py js-consumers STREAM

Environment: SWITCHYARD_NATS_URL (default nats://127.0.0.1:4222); SWITCHYARD_NATS_CA=FILE
connects over TLS trusting that CA.
"""
import asyncio
import base64
import json
import os
import ssl
import sys

# SWITCHYARD_NATS_URL / SWITCHYARD_NATS_CA: another server, over TLS trusting that CA.
URL = os.environ.get("SWITCHYARD_NATS_URL", "nats://127.0.0.1:4222")
CA = os.environ.get("SWITCHYARD_NATS_CA")


def event(i, prefix):
    attrs = {"specversion": "1.0", "id": f"{prefix}{i}", "source": "/interop/nats-py",
             "type": "com.example.reading", "subject": f"sensor-{i}", "seq": str(i)}
    return attrs, {"n": i, "unit": "°C"}


def message(i, mode, prefix):
    attrs, data = event(i, prefix)
    if mode == "binary":
        headers = {f"ce-{k}": v for k, v in attrs.items()}
        headers["ce-datacontenttype"] = "application/json"
        return json.dumps(data).encode(), headers
    if mode == "structured":
        body = dict(attrs, datacontenttype="application/json", data=data)
        return json.dumps(body).encode(), {"Content-Type": "application/cloudevents+json"}
    return json.dumps(data).encode(), {"Content-Type": "application/json"}


async def js_setup(nc, stream, subjects, durable=None):
    from nats.js.api import ConsumerConfig, AckPolicy
    js = nc.jetstream()
    await js.add_stream(name=stream, subjects=[subjects], max_age=600)
    if durable:
        await js.add_consumer(stream, ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=5))


async def js_delete(nc, stream):
    await nc.jetstream().delete_stream(stream)


async def publish(nc, subject, count, mode, via, prefix="py-"):
    js = nc.jetstream()
    for i in range(count):
        body, headers = message(i, mode, prefix)
        if via == "js":
            await js.publish(subject, body, headers=headers)
        else:
            await nc.publish(subject, body, headers=headers)
    await nc.flush()


async def js_get(nc, stream, count, timeout):
    js = nc.jetstream()
    sub = await js.subscribe(">", stream=stream, ordered_consumer=True)
    got = 0
    while got < count:
        try:
            msg = await sub.next_msg(timeout=timeout)
        except Exception:
            break
        got += 1
        print(json.dumps({
            "subject": msg.subject,
            "headers": dict(msg.headers or {}),
            "body_b64": base64.b64encode(msg.data).decode(),
        }))
    await sub.unsubscribe()


async def js_consumers(nc, stream):
    for info in await nc.jetstream().consumers_info(stream):
        print(json.dumps({"name": info.name}))


async def main():
    import nats
    cmd, args = sys.argv[1], sys.argv[2:]
    tls = ssl.create_default_context(cafile=CA) if CA else None
    nc = await nats.connect(URL, tls=tls) if tls else await nats.connect(URL)
    try:
        if cmd == "js-setup":
            await js_setup(nc, *args)
        elif cmd == "js-delete":
            await js_delete(nc, args[0])
        elif cmd == "pub":
            await publish(nc, args[0], int(args[1]), args[2], args[3], *args[4:])
        elif cmd == "js-consumers":
            await js_consumers(nc, args[0])
        elif cmd == "js-get":
            await js_get(nc, args[0], int(args[1]), float(args[2]))
        else:
            raise SystemExit(f"unknown command {cmd}")
    finally:
        await nc.drain()


if __name__ == "__main__":
    asyncio.run(main())
