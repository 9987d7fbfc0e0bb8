"""Independent broker clients for the end-to-end tests: paho-mqtt and pika, libraries nobody
here wrote, publishing into Switchyard's inbounds and reading what its outbounds wrote.

Subcommands print one JSON object per message on stdout and exit 0, or exit non-zero with a
message on stderr (for example when fewer messages than expected arrived before the timeout).

  mqtt-pub  TOPIC COUNT MODE     MODE: v5-binary | v5-structured | v311-structured | raw
  mqtt-sub  FILTER COUNT TIMEOUT [--ready FILE]
  amqp-pub  EXCHANGE ROUTING_KEY COUNT MODE     MODE: binary | structured | raw
  amqp-get  QUEUE COUNT TIMEOUT
  mqtt-pub-many TOPIC COUNT INTERVAL_MS   structured v5 events with ids f-0..f-N, QoS 1, riding out
                                       broker restarts; prints {"acked": [ids]} once all are acked
  amqp-drain QUEUE                      reads until the queue is empty (its messages all confirmed)
  amqp-setup EXCHANGE QUEUE BINDING_KEY   declares a topic exchange and a queue bound to it
  amqp-delete EXCHANGE QUEUE
  mqtt-pub-props TOPIC ID EXTRA_JSON    one MQTT 5 binary-mode event with id ID whose user properties
                                       are its attributes plus EXTRA_JSON's [[name, value], ...], QoS 1
"""

import base64
import json
import sys
import threading
import time

MQTT = ("127.0.0.1", 1883)
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2f"


def event(i, mode):
    attrs = {"specversion": "1.0", "id": f"py-{i}", "source": "/interop/python", "type": "com.example.reading",
             "subject": f"sensor-{i}", "seq": str(i)}
    data = {"n": i, "unit": "°C"}
    return attrs, data


def mqtt_client(version):
    import paho.mqtt.client as mqtt
    return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=version)


def mqtt_pub(topic, count, mode):
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    version = mqtt.MQTTv311 if mode.startswith("v311") else mqtt.MQTTv5
    client = mqtt_client(version)
    client.connect(*MQTT)
    client.loop_start()
    for i in range(count):
        attrs, data = event(i, mode)
        props = None
        if mode == "v5-binary":
            props = Properties(PacketTypes.PUBLISH)
            props.ContentType = "application/json"
            props.UserProperty = [(k, v) for k, v in attrs.items()]
            payload = json.dumps(data)
        elif mode in ("v5-structured", "v311-structured"):
            payload = json.dumps({**attrs, "data": data})
            if version == mqtt.MQTTv5:
                props = Properties(PacketTypes.PUBLISH)
                props.ContentType = "application/cloudevents+json"
        else:
            payload = json.dumps(data)
        info = client.publish(topic, payload, qos=1, properties=props) if props else client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=10)
        if not info.is_published():
            sys.exit(f"publish {i} not acknowledged")
    client.loop_stop()
    client.disconnect()


def mqtt_sub(filter_, count, timeout, ready_file=None):
    import paho.mqtt.client as mqtt
    got = []
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(_c, _u, msg):
        props = {}
        if getattr(msg, "properties", None) is not None:
            props["content_type"] = getattr(msg.properties, "ContentType", None)
            props["user"] = dict(getattr(msg.properties, "UserProperty", []) or [])
        got.append({"topic": msg.topic, "payload": base64.b64encode(msg.payload).decode(), "properties": props,
                     "qos": msg.qos, "retain": msg.retain})
        if len(got) >= count:
            done.set()

    client = mqtt_client(mqtt.MQTTv5)
    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect(*MQTT)
    client.subscribe(filter_, qos=1)
    client.loop_start()
    if not subscribed.wait(10):
        sys.exit("subscribe not acknowledged")
    if ready_file:
        open(ready_file, "w").close()
    done.wait(timeout)
    client.loop_stop()
    for m in got:
        print(json.dumps(m), flush=True)
    if len(got) < count:
        sys.exit(f"got {len(got)} of {count} messages on {filter_}")


def amqp_pub(exchange, key, count, mode):
    import pika
    conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    ch = conn.channel()
    ch.confirm_delivery()
    for i in range(count):
        attrs, data = event(i, mode)
        if mode in ("binary", "binary-unique"):
            headers = {f"cloudEvents_{k}": v for k, v in attrs.items()}
            props = pika.BasicProperties(content_type="application/json", headers=headers, delivery_mode=2)
            body = json.dumps(data)
        elif mode == "structured":
            props = pika.BasicProperties(content_type="application/cloudevents+json", delivery_mode=2)
            body = json.dumps({**attrs, "data": data})
        else:
            props = pika.BasicProperties(content_type="application/json", delivery_mode=2)
            body = json.dumps(data)
        ch.basic_publish(exchange, key, body.encode(), props, mandatory=True)
    conn.close()


def amqp_message(method, props, body):
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in (props.headers or {}).items()}
    return {"routing_key": method.routing_key, "content_type": props.content_type, "headers": headers,
            "message_id": props.message_id, "delivery_mode": props.delivery_mode,
            "body": base64.b64encode(body).decode()}


def amqp_get(queue, count, timeout):
    """Consumes COUNT messages, waiting for each as it is pushed, until the deadline."""
    import pika
    conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    ch = conn.channel()
    got = []
    deadline = time.time() + timeout
    while len(got) < count and time.time() < deadline:
        # Blocks until the broker pushes a message, or yields None when the deadline comes.
        for method, props, body in ch.consume(queue, auto_ack=True, inactivity_timeout=max(deadline - time.time(), 0.01)):
            if method is not None:
                got.append(amqp_message(method, props, body))
            break
    ch.cancel()
    conn.close()
    for m in got:
        print(json.dumps(m, default=str), flush=True)
    if len(got) < count:
        sys.exit(f"got {len(got)} of {count} messages from {queue}")


def amqp_setup(exchange, queue, key):
    """With EXCHANGE "" only the queue is declared (the default exchange routes by its name)."""
    import pika
    conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    ch = conn.channel()
    if exchange:
        ch.exchange_declare(exchange, exchange_type="topic", durable=True)
    ch.queue_declare(queue, durable=True)
    if exchange:
        ch.queue_bind(queue, exchange, routing_key=key)
    conn.close()


def amqp_delete(exchange, queue):
    import pika
    conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    ch = conn.channel()
    ch.queue_delete(queue)
    if exchange:
        ch.exchange_delete(exchange)
    conn.close()


def mqtt_pub_many(topic, count, interval_ms):
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    client = mqtt_client(mqtt.MQTTv5)
    client.reconnect_delay_set(min_delay=0.1, max_delay=1)
    client.max_inflight_messages_set(100)
    props = Properties(PacketTypes.PUBLISH)
    props.ContentType = "application/cloudevents+json"
    changed = threading.Condition()
    acked_mids = set()

    def on_publish(_client, _userdata, mid, _reason, _properties):
        with changed:
            acked_mids.add(mid)
            changed.notify_all()

    def on_connect(*_args):
        with changed:
            changed.notify_all()

    client.on_publish = on_publish
    client.on_connect = on_connect
    client.connect(*MQTT)
    client.loop_start()

    def send(i):
        body = json.dumps({"specversion": "1.0", "id": f"f-{i}", "source": "/faults", "type": "t", "data": i})
        info = client.publish(topic, body, qos=1, properties=props)
        return (time.time(), info)

    flights = {}
    for i in range(count):
        flights[i] = send(i)
        time.sleep(interval_ms / 1000)  # the publishing schedule (open loop), not a wait
    # Resend what the broker has not acknowledged (a restart loses unacknowledged publishes):
    # a publish paho refused while disconnected, or one unacknowledged for 5 s once connected.
    # Duplicates are fine; the ids of acknowledged ones are what the checker needs.
    done = set()
    deadline = time.time() + 90
    while len(done) < count and time.time() < deadline:
        with changed:
            changed.wait(timeout=0.5)  # woken by every PUBACK and every (re)connect
            newly = {i for i, (_, info) in flights.items() if info.mid in acked_mids and info.rc == 0}
        done |= newly
        if not client.is_connected():
            continue
        for i, (sent_at, info) in list(flights.items()):
            if i not in done and (info.rc != 0 or time.time() - sent_at > 5):
                flights[i] = send(i)
    client.loop_stop()
    print(json.dumps({"acked": [f"f-{i}" for i in sorted(done)]}), flush=True)


def amqp_drain(queue):
    """Reads the queue until the broker says it is empty. Meant for queues whose messages were
    all confirmed already (nothing more is on its way)."""
    import pika
    conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    ch = conn.channel()
    while True:
        method, props, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            break
        print(json.dumps(amqp_message(method, props, body), default=str), flush=True)
    conn.close()


def mqtt_pub_props(topic, id_, extra_json):
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    attrs, data = event(0, "v5-binary")
    attrs["id"] = id_
    props = Properties(PacketTypes.PUBLISH)
    props.ContentType = "application/json"
    props.UserProperty = [(k, v) for k, v in attrs.items()] + [(k, v) for k, v in json.loads(extra_json)]
    client = mqtt_client(mqtt.MQTTv5)
    client.connect(*MQTT)
    client.loop_start()
    info = client.publish(topic, json.dumps(data), qos=1, properties=props)
    info.wait_for_publish(timeout=10)
    if not info.is_published():
        sys.exit(f"publish {id_} not acknowledged")
    client.loop_stop()
    client.disconnect()


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "mqtt-pub":
        mqtt_pub(args[0], int(args[1]), args[2])
    elif cmd == "mqtt-sub":
        ready = args[4] if len(args) > 4 and args[3] == "--ready" else None
        mqtt_sub(args[0], int(args[1]), float(args[2]), ready)
    elif cmd == "amqp-pub":
        amqp_pub(args[0], args[1], int(args[2]), args[3])
    elif cmd == "amqp-get":
        amqp_get(args[0], int(args[1]), float(args[2]))
    elif cmd == "mqtt-pub-many":
        mqtt_pub_many(args[0], int(args[1]), float(args[2]))
    elif cmd == "amqp-drain":
        amqp_drain(args[0])
    elif cmd == "amqp-setup":
        amqp_setup(args[0], args[1], args[2])
    elif cmd == "amqp-delete":
        amqp_delete(args[0], args[1])
    elif cmd == "mqtt-pub-props":
        mqtt_pub_props(args[0], args[1], args[2])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
