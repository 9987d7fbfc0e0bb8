#!/usr/bin/env python3
"""Keys and tokens for the authentication tests, made by an independent JWT library (pyjwt,
with cryptography for the keys). One run makes everything a test needs:

    jwt_tool.py DIR

It creates DIR and writes the public keys the gateway is configured with there:
rs_public.pem (RSA 2048), es_public.pem (EC P-256), ed_public.pem (Ed25519) and jwks.json
(one more RSA key, kid "jwks-rs", alg RS256). It prints one JSON object:

    {"hs_secret": S, "api_key": K, "api_key_near_miss": K2, "api_key_sha256": H,
     "tokens": {NAME: TOKEN, ...}}

The tokens are for iss ISSUER and aud AUDIENCE unless their name says otherwise; the valid
ones have sub "dev-1" and may publish and subscribe to sensors/dev-1/#. Two forgeries
(`alg: none`, and HS256 keyed with the RSA public key's PEM) are built by hand, since pyjwt
rightly refuses to make them.
"""
import base64
import hashlib
import hmac
import json
import pathlib
import secrets
import sys
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ISSUER = "https://issuer.test"
AUDIENCE = "switchyard"
HOUR = 3600


def public_pem(private_key):
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(obj):
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def claims(now, **changes):
    """A valid token's claims for sub dev-1, with `changes` applied (None removes a claim)."""
    base = {"sub": "dev-1", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + HOUR,
            "switchyard.pub": ["sensors/dev-1/#"], "switchyard.sub": ["sensors/dev-1/#"]}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def forged_none(payload):
    """`alg: none`: no signature at all."""
    return f"{segment({'alg': 'none', 'typ': 'JWT', 'kid': 'rs'})}.{segment(payload)}."


def forged_hmac(payload, secret):
    """HS256 with `secret` (the RSA public key's PEM) and kid "rs": the key-confusion attack."""
    signing_input = f"{segment({'alg': 'HS256', 'typ': 'JWT', 'kid': 'rs'})}.{segment(payload)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def write_keys(out):
    """Makes the keys, writes the public halves into `out`; the private keys by kid."""
    keys = {"rs": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "es": ec.generate_private_key(ec.SECP256R1()),
            "ed": ed25519.Ed25519PrivateKey.generate(),
            "jwks-rs": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
    for kid in ("rs", "es", "ed"):
        (out / f"{kid}_public.pem").write_bytes(public_pem(keys[kid]))
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(keys["jwks-rs"].public_key(), as_dict=True)
    jwk.update({"kid": "jwks-rs", "alg": "RS256", "use": "sig"})
    (out / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    return keys


def tokens(keys, hs_secret, rs_pem):
    now = int(time.time())

    def sign(kid, alg, payload, key=None):
        return jwt.encode(payload, key if key is not None else keys[kid], algorithm=alg,
                          headers={"kid": kid})

    def rs(payload, kid="rs"):
        return jwt.encode(payload, keys["rs"], algorithm="RS256", headers={"kid": kid})

    valid = claims(now)
    return {
        "rs": sign("rs", "RS256", valid),
        "es": sign("es", "ES256", valid),
        "ed": sign("ed", "EdDSA", valid),
        "hs": sign("hs", "HS256", valid, key=hs_secret.encode()),
        "jwks": sign("jwks-rs", "RS256", valid),
        "alg_none": forged_none(valid),
        "hs_with_rs_pem": forged_hmac(valid, rs_pem),
        "expired": rs(claims(now, iat=now - 2 * HOUR, exp=now - HOUR)),
        "not_yet_valid": rs(claims(now, nbf=now + HOUR, exp=now + 2 * HOUR)),
        "wrong_audience": rs(claims(now, aud="someone-else")),
        "wrong_issuer": rs(claims(now, iss="https://evil.test")),
        "kid_path": rs(valid, kid="../../etc/passwd"),
        "kid_sql": rs(valid, kid="' OR 1=1 --"),
        "over_8k": rs(claims(now, pad="x" * 6_400)),
        "huge": rs(claims(now, pad="x" * 75_000)),
        # May subscribe anywhere under sensors/, publish only under sensors/dev-1/.
        "reader": rs(claims(now, sub="reader", **{"switchyard.sub": ["sensors/#"]})),
        # No topic claims: everything it may do comes from `auth.principals.alice`.
        "alice": rs(claims(now, sub="alice", **{"switchyard.pub": None, "switchyard.sub": None})),
    }


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    keys = write_keys(out)
    hs_secret = secrets.token_urlsafe(32)
    api_key = secrets.token_hex(32)
    near_miss = api_key[:-1] + ("0" if api_key[-1] != "0" else "1")
    result = {
        "hs_secret": hs_secret,
        "api_key": api_key,
        "api_key_near_miss": near_miss,
        "api_key_sha256": hashlib.sha256(api_key.encode()).hexdigest(),
        "tokens": tokens(keys, hs_secret, (out / "rs_public.pem").read_bytes()),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
