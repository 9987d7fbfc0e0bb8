#!/usr/bin/env python3
"""The independent gRPC client of the interop tests (grpcio, grpcio-tools,
grpcio-health-checking, grpcio-reflection). It compiles the repository's proto/ files with
grpcio-tools the way the README tells Python users to (package io.cloudevents.v1 would shadow
the standard `io` module, so the generated `io/` folder is renamed `ce_io/` and the imports
follow), then speaks to the gateway. Prints one JSON line per result.

    grpc_client.py publish ADDR TOPIC COUNT PREFIX [--batch K]
    grpc_client.py publish-rich ADDR TOPIC
    grpc_client.py call ADDR TOPIC CASE [--timeout S]     CASE: ok | invalid | big | no-event | bad-batch
    grpc_client.py rpc ADDR TOPIC ID [--timeout S]   one Call (request-reply); prints the reply
    grpc_client.py lease ADDR QUEUE MAX LEASE_MS WAIT_MS   one Lease; prints the leased events
    grpc_client.py settle ADDR QUEUE RECEIPT ack|nack|dead-letter
    grpc_client.py subscribe ADDR FILTER COUNT TIMEOUT_S [--since N] [--group G] [--ready FILE]
                             [--hold]   after the first event, stop reading until a line on stdin
    grpc_client.py health ADDR [SERVICE]
    grpc_client.py watch ADDR COUNT TIMEOUT_S --ready FILE
    grpc_client.py reflect ADDR
    grpc_client.py ce-publish ADDR SOURCE COUNT PREFIX
    grpc_client.py ce-subscribe ADDR SOURCE COUNT TIMEOUT_S --ready FILE
    grpc_client.py backend COUNT TIMEOUT_S --ready FILE [--fail-first N]
    grpc_client.py encode rich|batch        the serialized message, in base64
    grpc_client.py decode BASE64            an io.cloudevents.v1.CloudEvent, as JSON

Environment: SWITCHYARD_GRPC_CA=FILE connects over TLS trusting that CA (with
SWITCHYARD_GRPC_CERT and SWITCHYARD_GRPC_KEY, presenting that client certificate); SWITCHYARD_GRPC_AUTH
is sent as the `authorization` metadata of every call (`Bearer TOKEN`, `ApiKey KEY`).
"""
import argparse
import base64
import hashlib
import json
import os
import pathlib
import re
import sys
import tempfile
import threading
from concurrent import futures

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto"


def stubs():
    """Generates the Python modules once per version of proto/ and imports them."""
    files = sorted(str(p.relative_to(PROTO)) for p in PROTO.rglob("*.proto"))
    digest = hashlib.sha256(b"".join((PROTO / f).read_bytes() for f in files)).hexdigest()[:16]
    out = pathlib.Path(tempfile.gettempdir()) / f"switchyard-pyproto-{digest}"
    if not (out / "done").exists():
        from grpc_tools import protoc
        import grpc_tools
        work = pathlib.Path(tempfile.mkdtemp(prefix="switchyard-pyproto-"))
        include = str(pathlib.Path(grpc_tools.__file__).parent / "_proto")
        args = ["protoc", f"-I{PROTO}", f"-I{include}", f"--python_out={work}",
                f"--grpc_python_out={work}", *files]
        if protoc.main(args) != 0:
            sys.exit("grpc_tools.protoc failed")
        # The README's recipe: `io/` -> `ce_io/`, and the imports with it.
        (work / "io").rename(work / "ce_io")
        for py in work.rglob("*.py"):
            text = py.read_text()
            py.write_text(re.sub(r"^from io\.cloudevents\.v1 import", "from ce_io.cloudevents.v1 import",
                                 text, flags=re.M))
        (work / "done").write_text("ok")
        try:
            work.rename(out)
        except OSError:
            pass  # another process made it first
    sys.path.insert(0, str(out))
    from ce_io.cloudevents.v1 import cloudevents_pb2, cloudevent_service_pb2, cloudevent_service_pb2_grpc
    from switchyard.v1 import gateway_pb2, gateway_pb2_grpc
    return cloudevents_pb2, gateway_pb2, gateway_pb2_grpc, cloudevent_service_pb2, cloudevent_service_pb2_grpc


ce, gw, gw_grpc, ces, ces_grpc = stubs()
import grpc  # noqa: E402


def out(obj):
    print(json.dumps(obj), flush=True)


def attr_view(value):
    kind = value.WhichOneof("attr")
    v = getattr(value, kind)
    if kind == "ce_bytes":
        v = base64.b64encode(v).decode()
    elif kind == "ce_timestamp":
        v = v.ToJsonString()
    return [kind, v]


def view(event):
    """An event as JSON: typed attributes, data by kind (bytes in base64)."""
    data = None
    kind = event.WhichOneof("data")
    if kind == "binary_data":
        data = {"binary_data": base64.b64encode(event.binary_data).decode()}
    elif kind == "text_data":
        data = {"text_data": event.text_data}
    elif kind == "proto_data":
        data = {"proto_data": {"type_url": event.proto_data.type_url,
                               "value": base64.b64encode(event.proto_data.value).decode()}}
    return {"id": event.id, "source": event.source, "spec_version": event.spec_version,
            "type": event.type, "attributes": {k: attr_view(v) for k, v in event.attributes.items()},
            "data": data}


def simple(i, prefix):
    event = ce.CloudEvent(id=f"{prefix}{i}", source="/interop/grpcio", spec_version="1.0",
                          type="com.example.reading")
    event.attributes["datacontenttype"].ce_string = "application/json"
    event.attributes["seq"].ce_integer = i
    event.text_data = json.dumps({"n": i})
    return event


def rich():
    event = ce.CloudEvent(id="rich-1", source="/interop/grpcio", spec_version="1.0", type="com.example.rich")
    a = event.attributes
    a["subject"].ce_string = "s-1"
    a["time"].ce_timestamp.seconds = 1_700_000_000
    a["time"].ce_timestamp.nanos = 5_000_000
    a["dataschema"].ce_uri = "https://schema.example/r"
    a["datacontenttype"].ce_string = "application/octet-stream"
    a["flag"].ce_boolean = True
    a["count"].ce_integer = -42
    a["label"].ce_string = "é ü"
    a["blob"].ce_bytes = b"\x00\x01\xfe"
    a["link"].ce_uri_ref = "/rel/x"
    event.binary_data = bytes(range(256))
    return event


class _Metadata(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds `authorization` to every call."""

    def __init__(self, value):
        self.value = value

    def _with(self, details):
        metadata = list(details.metadata or []) + [("authorization", self.value)]
        return details._replace(metadata=metadata)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._with(details), request)


def channel(addr, options=None):
    """The channel to the gateway: TLS when SWITCHYARD_GRPC_CA names a CA file, and the
    authorization of SWITCHYARD_GRPC_AUTH on every call."""
    ca = os.environ.get("SWITCHYARD_GRPC_CA")
    cert, key = os.environ.get("SWITCHYARD_GRPC_CERT"), os.environ.get("SWITCHYARD_GRPC_KEY")
    if ca:
        creds = grpc.ssl_channel_credentials(
            root_certificates=pathlib.Path(ca).read_bytes(),
            private_key=pathlib.Path(key).read_bytes() if key else None,
            certificate_chain=pathlib.Path(cert).read_bytes() if cert else None)
        ch = grpc.secure_channel(addr, creds, options=options)
    else:
        ch = grpc.insecure_channel(addr, options=options)
    auth = os.environ.get("SWITCHYARD_GRPC_AUTH")
    if auth:
        ch = grpc.intercept_channel(ch, _Metadata(auth))
    return ch


def status_view(err):
    return {"code": err.code().name, "details": err.details(),
            "metadata": {k: v for k, v in (err.trailing_metadata() or ())}}


def cmd_publish(a):
    stub = gw_grpc.GatewayStub(channel(a.addr))
    batch = a.batch or 0
    i = 0
    while i < a.count:
        try:
            if batch:
                events = [simple(j, a.prefix) for j in range(i, min(i + batch, a.count))]
                reply = stub.PublishBatch(gw.PublishBatchRequest(topic=a.topic, batch=ce.CloudEventBatch(events=events)), timeout=30)
                i += len(events)
            else:
                reply = stub.Publish(gw.PublishRequest(topic=a.topic, event=simple(i, a.prefix)), timeout=30)
                i += 1
            out({"accepted": list(reply.accepted)})
        except grpc.RpcError as err:
            out(status_view(err))
            return


def cmd_publish_rich(a):
    stub = gw_grpc.GatewayStub(channel(a.addr))
    event = rich()
    reply = stub.Publish(gw.PublishRequest(topic=a.topic, event=event), timeout=30)
    out({"accepted": list(reply.accepted), "sent": view(event)})


def cmd_call(a):
    """One publish that is meant to fail (or not): prints the status it got."""
    ch = channel(a.addr, options=[("grpc.max_send_message_length", 8 << 20)])
    stub = gw_grpc.GatewayStub(ch)
    event = simple(0, "call-")
    request = gw.PublishRequest(topic=a.topic, event=event)
    if a.case == "invalid":
        request.event.id = ""
    elif a.case == "big":
        request.event.text_data = "x" * (2 << 20)
    elif a.case == "no-event":
        request = gw.PublishRequest(topic=a.topic)
    try:
        if a.case == "bad-batch":
            events = [simple(i, "bad-") for i in range(3)]
            events[1].type = ""
            batch = gw.PublishBatchRequest(topic=a.topic, batch=ce.CloudEventBatch(events=events))
            reply = stub.PublishBatch(batch, timeout=a.timeout)
        else:
            reply = stub.Publish(request, timeout=a.timeout)
        out({"code": "OK", "accepted": list(reply.accepted)})
    except grpc.RpcError as err:
        out(status_view(err))


def cmd_rpc(a):
    stub = gw_grpc.GatewayStub(channel(a.addr))
    event = simple(0, "")
    event.id = a.id
    event.text_data = json.dumps({"n": a.id})
    try:
        reply = stub.Call(gw.CallRequest(topic=a.topic, event=event), timeout=a.timeout)
    except grpc.RpcError as err:
        out(status_view(err))
        return
    kind = reply.WhichOneof("reply")
    if kind == "event":
        out({"code": "OK", "event": view(reply.event)})
    else:
        out({"code": "OK", "raw": {"content_type": reply.raw.content_type,
                                   "body": base64.b64encode(reply.raw.body).decode()}})


def cmd_lease(a):
    stub = gw_grpc.GatewayStub(channel(a.addr))
    try:
        reply = stub.Lease(gw.LeaseRequest(queue=a.queue, max=a.max, lease_ms=a.lease_ms, wait_ms=a.wait_ms),
                           timeout=30)
    except grpc.RpcError as err:
        out(status_view(err))
        return
    out({"code": "OK", "events": [{"receipt": e.receipt, "id": e.event.id, "redelivered": e.redelivered,
                                    "deliveries": e.deliveries} for e in reply.events]})


def cmd_settle(a):
    stub = gw_grpc.GatewayStub(channel(a.addr))
    request = gw.SettleRequest(queue=a.queue, receipt=a.receipt, dead_letter=a.how == "dead-letter")
    try:
        (stub.Ack if a.how == "ack" else stub.Nack)(request, timeout=30)
        out({"code": "OK"})
    except grpc.RpcError as err:
        out(status_view(err))


def cmd_subscribe(a):
    stub = gw_grpc.GatewayStub(channel(a.addr))
    request = gw.SubscribeRequest(filter=a.filter, group=a.group or "")
    if a.since is not None:
        request.since = a.since
    stream = stub.Subscribe(request, timeout=a.timeout)
    seen = 0
    try:
        first = True
        for reply in stream_with_ready(stream, a.ready):
            out({"cursor": reply.cursor, "reset": reply.reset, "event": view(reply.event)})
            seen += 1
            if seen == 1 and a.hold:
                # A stalled consumer: reads nothing more until the test says go.
                sys.stdin.readline()
            if seen >= a.count:
                stream.cancel()
                return
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.CANCELLED:
            out(status_view(err))


def stream_with_ready(stream, ready):
    """Marks the subscription ready once the server answered the call's headers."""
    if ready:
        stream.initial_metadata()
        pathlib.Path(ready).write_text("ready")
    yield from stream


def cmd_health(a):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    stub = health_pb2_grpc.HealthStub(channel(a.addr))
    try:
        reply = stub.Check(health_pb2.HealthCheckRequest(service=a.service), timeout=10)
        out({"status": health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)})
    except grpc.RpcError as err:
        out(status_view(err))


def cmd_watch(a):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    stub = health_pb2_grpc.HealthStub(channel(a.addr))
    stream = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=a.timeout)
    seen = 0
    try:
        for reply in stream:
            out({"status": health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)})
            if seen == 0:
                pathlib.Path(a.ready).write_text("ready")
            seen += 1
            if seen >= a.count:
                stream.cancel()
                return
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.CANCELLED:
            out(status_view(err))


def cmd_reflect(a):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
    stub = reflection_pb2_grpc.ServerReflectionStub(channel(a.addr))
    replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10)
    for reply in replies:
        out({"services": sorted(s.name for s in reply.list_services_response.service)})
        return


def cmd_ce_publish(a):
    stub = ces_grpc.CloudEventServiceStub(channel(a.addr))
    for i in range(a.count):
        event = simple(i, a.prefix)
        event.source = a.source
        event.attributes["clustername"].ce_string = "c1" if i % 2 == 0 else "c2"
        stub.Publish(ces.PublishRequest(event=event), timeout=30)
    out({"published": a.count})


def cmd_ce_subscribe(a):
    stub = ces_grpc.CloudEventServiceStub(channel(a.addr))
    request = ces.SubscriptionRequest(source=a.source, cluster_name=a.cluster or "")
    stream = stub.Subscribe(request, timeout=a.timeout)
    seen = 0
    try:
        for event in stream_with_ready(stream, a.ready):
            out(view(event))
            seen += 1
            if seen >= a.count:
                stream.cancel()
                return
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.CANCELLED:
            out(status_view(err))


class Backend(gw_grpc.GatewayServicer):
    """A user's gRPC service behind the gateway: records what it is sent; the first
    `fail_first` calls answer UNAVAILABLE (a backend that is starting)."""

    def __init__(self, fail_first, count):
        self.lock = threading.Lock()
        self.calls = 0
        self.fail_first = fail_first
        self.count = count
        self.ids = []
        self.done = threading.Event()

    def Publish(self, request, context):
        with self.lock:
            self.calls += 1
            if self.calls <= self.fail_first:
                context.abort(grpc.StatusCode.UNAVAILABLE, "starting")
            out({"topic": request.topic, "event": view(request.event)})
            self.ids.append(request.event.id)
            if len(set(self.ids)) >= self.count:
                self.done.set()
        return gw.PublishResponse(accepted=[request.event.id])

    def Call(self, request, context):
        """Request-reply: answers with an event naming the request."""
        out({"call": request.topic, "event": view(request.event)})
        reply = ce.CloudEvent(id=f"reply-{request.event.id}", source="/interop/grpc-backend",
                              spec_version="1.0", type="com.example.reply")
        reply.text_data = json.dumps({"request_id": request.event.id})
        reply.attributes["datacontenttype"].ce_string = "application/json"
        with self.lock:
            self.ids.append(request.event.id)
            if len(set(self.ids)) >= self.count:
                self.done.set()
        return gw.CallResponse(event=reply)


def cmd_backend(a):
    backend = Backend(a.fail_first, a.count)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    gw_grpc.add_GatewayServicer_to_server(backend, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    pathlib.Path(a.ready).write_text(str(port))
    backend.done.wait(timeout=a.timeout)
    server.stop(grace=1)


def cmd_encode(a):
    if a.what == "rich":
        data = rich().SerializeToString()
    else:
        data = ce.CloudEventBatch(events=[simple(i, "pb-") for i in range(3)]).SerializeToString()
    out({"base64": base64.b64encode(data).decode(), "view": view(rich()) if a.what == "rich" else None})


def cmd_decode(a):
    event = ce.CloudEvent()
    event.ParseFromString(base64.b64decode(a.data))
    out(view(event))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("publish"); s.add_argument("addr"); s.add_argument("topic"); s.add_argument("count", type=int); s.add_argument("prefix"); s.add_argument("--batch", type=int)
    s = sub.add_parser("publish-rich"); s.add_argument("addr"); s.add_argument("topic")
    s = sub.add_parser("call"); s.add_argument("addr"); s.add_argument("topic"); s.add_argument("case"); s.add_argument("--timeout", type=float, default=30)
    s = sub.add_parser("rpc"); s.add_argument("addr"); s.add_argument("topic"); s.add_argument("id"); s.add_argument("--timeout", type=float, default=30)
    s = sub.add_parser("lease"); s.add_argument("addr"); s.add_argument("queue"); s.add_argument("max", type=int); s.add_argument("lease_ms", type=int); s.add_argument("wait_ms", type=int)
    s = sub.add_parser("settle"); s.add_argument("addr"); s.add_argument("queue"); s.add_argument("receipt"); s.add_argument("how")
    s = sub.add_parser("subscribe"); s.add_argument("addr"); s.add_argument("filter"); s.add_argument("count", type=int); s.add_argument("timeout", type=float)
    s.add_argument("--since", type=int); s.add_argument("--group"); s.add_argument("--ready"); s.add_argument("--hold", action="store_true")
    s = sub.add_parser("health"); s.add_argument("addr"); s.add_argument("service", nargs="?", default="")
    s = sub.add_parser("watch"); s.add_argument("addr"); s.add_argument("count", type=int); s.add_argument("timeout", type=float); s.add_argument("--ready", required=True)
    s = sub.add_parser("reflect"); s.add_argument("addr")
    s = sub.add_parser("ce-publish"); s.add_argument("addr"); s.add_argument("source"); s.add_argument("count", type=int); s.add_argument("prefix")
    s = sub.add_parser("ce-subscribe"); s.add_argument("addr"); s.add_argument("source"); s.add_argument("count", type=int); s.add_argument("timeout", type=float)
    s.add_argument("--ready"); s.add_argument("--cluster")
    s = sub.add_parser("backend"); s.add_argument("count", type=int); s.add_argument("timeout", type=float); s.add_argument("--ready", required=True); s.add_argument("--fail-first", type=int, default=0)
    s = sub.add_parser("encode"); s.add_argument("what")
    s = sub.add_parser("decode"); s.add_argument("data")
    a = p.parse_args()
    {"publish": cmd_publish, "publish-rich": cmd_publish_rich, "call": cmd_call, "rpc": cmd_rpc, "lease": cmd_lease, "settle": cmd_settle, "subscribe": cmd_subscribe,
     "health": cmd_health, "watch": cmd_watch, "reflect": cmd_reflect, "ce-publish": cmd_ce_publish,
     "ce-subscribe": cmd_ce_subscribe, "backend": cmd_backend, "encode": cmd_encode,
     "decode": cmd_decode}[a.cmd](a)


if __name__ == "__main__":
    main()
