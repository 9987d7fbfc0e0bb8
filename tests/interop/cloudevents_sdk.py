"""Interop with the CloudEvents Python SDK (cloudevents on PyPI), which nobody here wrote.

Run by tests/tests/interop.rs. Protocol with the Rust side:
  1. starts a webhook receiver on 127.0.0.1:0 and prints its URL on stdout;
  2. reads the gateway's base URL from stdin (the gateway routes every event to the hub and,
     in binary mode, to this webhook);
  3. sends events made by the SDK in binary and structured mode, then checks that the SDK
     parses what the gateway emits (webhook deliveries, poll batches) back to the same events.
Exits non-zero with a message on the first mismatch.
"""

import json
import sys
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent, from_http, from_json

received = []
lock = threading.Lock()


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        with lock:
            received.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def post(url, headers, body):
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=10) as res:
        assert res.status == 200, res.status
        return json.loads(res.read())


# The Python SDK neither percent-encodes binary-mode header values on send nor decodes them on
# receive (the spec's MUST; cloudevents/spec#1397 found the same in sdk-go and sdk-java), so
# values it sends in binary mode stay within what needs no encoding. The structured event
# carries a value that does need it, and its webhook delivery shows our encoding is right.
UNICODE_SUBJECT = 'Euro € 😀 "quoted" 100%'


def events():
    source = "https://sdk.example/python"
    return [
        ("binary-json", CloudEvent({"source": source, "subject": "sensor-7/room_1", "type": "com.example.json",
                                    "id": "py-1", "datacontenttype": "application/json", "ext1": "x"},
                                   {"n": 1, "s": "ü"})),
        ("binary-text", CloudEvent({"source": source, "type": "com.example.text", "id": "py-2",
                                    "datacontenttype": "text/plain", "time": "2026-11-23T10:00:00.5+02:00"},
                                   "hello, text")),
        ("structured", CloudEvent({"source": source, "subject": UNICODE_SUBJECT, "type": "com.example.structured",
                                   "id": "py-3", "dataschema": "https://sdk.example/schema"}, {"list": [1, 2, 3]})),
    ]


def same(sent, got, how):
    a, b = dict(sent.get_attributes()), dict(got.get_attributes())
    # An event without datacontenttype has JSON data; translated to binary mode it says so
    # explicitly (spec: the translated event SHOULD set it).
    if "datacontenttype" not in a and b.get("datacontenttype") == "application/json":
        del b["datacontenttype"]
    if a != b:
        sys.exit(f"{how}: attributes differ\nsent {a}\ngot  {b}")
    if sent.get_data() != got.get_data():
        sys.exit(f"{how}: data differ\nsent {sent.get_data()!r}\ngot  {got.get_data()!r}")


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{server.server_address[1]}/hook", flush=True)
    base = sys.stdin.readline().strip()

    sent = events()
    for how, event in sent:
        if how == "structured":
            headers, body = to_structured(event)
        elif how == "binary-text":
            # The SDK's default marshaller JSON-encodes str data even for text/plain.
            headers, body = to_binary(event, data_marshaller=str.encode)
        else:
            headers, body = to_binary(event)
        if isinstance(body, str):
            body = body.encode()
        post(f"{base}/topics/interop/python", headers, body)

    # The gateway's webhook (binary mode) output, parsed by the SDK. The route confirms, so each
    # 200 above came after the webhook's answer: every delivery is already here.
    with lock:
        deliveries = list(received)
    if len(deliveries) != len(sent):
        sys.exit(f"webhook got {len(deliveries)} of {len(sent)} events")
    for (how, event), (headers, body) in zip(sent, deliveries):
        unmarshaller = bytes.decode if how == "binary-text" else None
        got = from_http(headers, body, data_unmarshaller=unmarshaller)
        if how == "structured":
            # Percent-encoded on the wire, as the spec requires; the SDK leaves it encoded.
            if headers.get("ce-subject") != "Euro%20%E2%82%AC%20%F0%9F%98%80%20%22quoted%22%20100%25":
                sys.exit(f"ce-subject not encoded per spec: {headers.get('ce-subject')!r}")
            got["subject"] = urllib.parse.unquote(got["subject"])
        same(event, got, f"{how} via webhook (binary mode)")

    # The gateway's structured JSON (as every feed emits it), parsed by the SDK.
    with urllib.request.urlopen(f"{base}/topics/interop/python?since=0", timeout=10) as res:
        batch = json.loads(res.read())
    if len(batch) != len(sent):
        sys.exit(f"poll returned {len(batch)} of {len(sent)} events")
    for (how, event), item in zip(sent, batch):
        same(event, from_json(json.dumps(item)), f"{how} via poll (structured)")
    print("interop ok", flush=True)


if __name__ == "__main__":
    main()
