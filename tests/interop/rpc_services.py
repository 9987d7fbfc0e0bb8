"""Request-reply services for the end-to-end tests, written with libraries nobody here wrote:
Python's http.server with the CloudEvents SDK, pika (an AMQP RPC server answering to
`reply_to` with `correlation_id`), and paho-mqtt (an MQTT 5 responder answering to the
Response Topic with the Correlation Data).

Each writes its --ready file once it serves (the HTTP one writes its port), then prints one
JSON line per request it answered, with what the request carried.

  http  --ready FILE                 POST /event: a binary-mode CloudEvent reply; /plain: text;
                                     /held: the /event reply once released; /big: 5 MiB of text
  amqp  QUEUE [--hold] --ready FILE  replies structured CloudEvents (with --hold: once released)
  mqtt  TOPIC --ready FILE           replies structured CloudEvents

A line on standard input releases what is held (a test's condition, never a timer); nothing is
held longer than HOLD_LIMIT, so a forgotten release cannot hang a run.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2f"
MQTT = ("127.0.0.1", 1883)
HOLD_LIMIT = 60
RELEASED = threading.Event()


def watch_release(then=None):
    """Sets RELEASED (and runs `then`) on the first line of standard input."""
    def wait():
        sys.stdin.readline()
        RELEASED.set()
        if then:
            then()
    threading.Thread(target=wait, daemon=True).start()


def out(obj):
    print(json.dumps(obj), flush=True)


def ready(path, text="ok"):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    import os
    os.rename(path + ".tmp", path)


def reply_event(request, server):
    """The reply a service makes of a request (a CloudEvent as a dict, or None)."""
    from cloudevents.http import CloudEvent
    data = {"request_id": request["id"] if request else None,
            "correlationid": request.get("correlationid") if request else None,
            "data": request.data if request else None}
    return CloudEvent({"type": "com.example.reply", "source": f"/rpc-services/{server}",
                       "datacontenttype": "application/json"}, data)


def amqp_request(props, body):
    """The request a message carries: structured, or binary mode (AMQP binding: attributes in
    `cloudEvents_` / `cloudEvents:` application properties)."""
    from cloudevents.http import CloudEvent, from_json
    if props.content_type and props.content_type.startswith("application/cloudevents"):
        return from_json(body)
    attrs = {}
    for name, value in (props.headers or {}).items():
        for prefix in ("cloudEvents_", "cloudEvents:"):
            if name.startswith(prefix):
                attrs[name[len(prefix):]] = value.decode() if isinstance(value, bytes) else str(value)
    data = json.loads(body) if (props.content_type or "").endswith("json") else body
    return CloudEvent(attrs, data)


def mqtt_request(msg):
    """The request a message carries: structured, or MQTT 5 binary mode (attributes in user
    properties)."""
    from cloudevents.http import CloudEvent, from_json
    content_type = getattr(msg.properties, "ContentType", None)
    if content_type and content_type.startswith("application/cloudevents"):
        return from_json(msg.payload)
    attrs = dict(getattr(msg.properties, "UserProperty", []))
    data = json.loads(msg.payload) if (content_type or "").endswith("json") else msg.payload
    return CloudEvent(attrs, data)


def structured_reply(request, server):
    from cloudevents.conversion import to_structured
    headers, payload = to_structured(reply_event(request, server))
    return headers["content-type"], payload


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        from cloudevents.http import from_http
        from cloudevents.conversion import to_binary
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = from_http(headers, body) if any(k.startswith("ce-") or "cloudevents" in v
                                                 for k, v in headers.items()) else None
        out({"path": self.path, "id": request["id"] if request else None,
             "correlationid": request.get("correlationid") if request else None})
        if self.path == "/big":
            self.answer(200, {"content-type": "text/plain"}, b"x" * (5 << 20))
            return
        if self.path == "/plain":
            self.answer(200, {"content-type": "text/plain"}, b"pong:" + body)
            return
        if self.path == "/held":
            RELEASED.wait(HOLD_LIMIT)
        reply_headers, payload = to_binary(reply_event(request, "http"))
        self.answer(200, reply_headers, payload)

    def answer(self, status, headers, payload):
        if isinstance(payload, str):
            payload = payload.encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def cmd_http(args):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    watch_release()
    ready(args.ready, str(server.server_address[1]))
    server.serve_forever()


def cmd_amqp(args):
    import pika
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    channel.queue_declare(queue=args.queue, auto_delete=True)

    held = []

    def reply(props, content_type, payload, tag):
        channel.basic_publish(exchange="", routing_key=props.reply_to,
                              properties=pika.BasicProperties(correlation_id=props.correlation_id,
                                                              content_type=content_type),
                              body=payload)
        channel.basic_ack(delivery_tag=tag)

    def flush():
        while held:
            reply(*held.pop(0))

    def on_request(ch, method, props, body):
        request = amqp_request(props, body)
        content_type, payload = structured_reply(request, "amqp")
        out({"id": request["id"], "correlationid": request.get("correlationid"),
             "reply_to": props.reply_to, "correlation_id": props.correlation_id})
        answer = (props, content_type, payload, method.delivery_tag)
        if args.hold and not RELEASED.is_set():
            held.append(answer)
        else:
            reply(*answer)

    if args.hold:
        # pika's connection belongs to this thread: the release runs the flush on it.
        watch_release(then=lambda: connection.add_callback_threadsafe(flush))

    channel.basic_qos(prefetch_count=50)
    channel.basic_consume(queue=args.queue, on_message_callback=on_request)
    ready(args.ready)
    channel.start_consuming()


def cmd_mqtt(args):
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    subscribed = threading.Event()

    def on_message(cl, userdata, msg):
        request = mqtt_request(msg)
        content_type, payload = structured_reply(request, "mqtt")
        response_topic = getattr(msg.properties, "ResponseTopic", None)
        correlation = getattr(msg.properties, "CorrelationData", None)
        out({"id": request["id"], "correlationid": request.get("correlationid"),
             "response_topic": response_topic, "correlation_data": correlation.hex() if correlation else None})
        props = Properties(PacketTypes.PUBLISH)
        props.ContentType = content_type
        if correlation is not None:
            props.CorrelationData = correlation
        cl.publish(response_topic, payload, qos=1, properties=props)

    client.on_message = on_message
    client.on_subscribe = lambda *a, **k: subscribed.set()
    client.connect(*MQTT)
    client.subscribe(args.topic, qos=1)
    client.loop_start()
    if not subscribed.wait(10):
        sys.exit("not subscribed")
    ready(args.ready)
    threading.Event().wait()


def main():
    import argparse
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("http")
    p.add_argument("--ready", required=True)
    p = sub.add_parser("amqp")
    p.add_argument("queue")
    p.add_argument("--hold", action="store_true")
    p.add_argument("--ready", required=True)
    p = sub.add_parser("mqtt")
    p.add_argument("topic")
    p.add_argument("--ready", required=True)
    args = parser.parse_args()
    {"http": cmd_http, "amqp": cmd_amqp, "mqtt": cmd_mqtt}[args.cmd](args)


if __name__ == "__main__":
    main()
