"""Standard Webhooks v1a with Python's `cryptography` (OpenSSL's Ed25519): the other side of
scripts/v1a_interop.sh. Written from the spec, not from the crate.

  ed25519.py keygen                         -> whsk_ (64-byte pair) and whpk_ lines
  ed25519.py sign WHSK ID TS < body          -> the webhook-signature value (v1a,...)
  ed25519.py verify WHPK ID TS SIGS < body   -> exit 0 if one v1a signature verifies
"""
import base64
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def content(msg_id, ts, body):
    return msg_id.encode() + b"." + ts.encode() + b"." + body


def private_key(whsk):
    raw = base64.b64decode(whsk.removeprefix("whsk_"))
    return Ed25519PrivateKey.from_private_bytes(raw[:32])


def public_raw(key):
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def main(argv):
    body = sys.stdin.buffer.read() if argv[1] != "keygen" else b""
    if argv[1] == "keygen":
        key = Ed25519PrivateKey.generate()
        seed = key.private_bytes_raw()
        print("whsk_" + base64.b64encode(seed + public_raw(key)).decode())
        print("whpk_" + base64.b64encode(public_raw(key)).decode())
        return 0
    if argv[1] == "sign":
        key = private_key(argv[2])
        print("v1a," + base64.b64encode(key.sign(content(argv[3], argv[4], body))).decode())
        return 0
    if argv[1] == "verify":
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(argv[2].removeprefix("whpk_")))
        for entry in argv[5].split(" "):
            version, _, encoded = entry.partition(",")
            if version != "v1a":
                continue
            try:
                public.verify(base64.b64decode(encoded), content(argv[3], argv[4], body))
                return 0
            except (InvalidSignature, ValueError):
                continue
        return 1
    raise SystemExit(f"unknown command {argv[1]}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
