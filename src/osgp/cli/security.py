"""``osgp security``: compute what the security layer computes, for checking captures by hand.

* ``osgp security digest --key KEY HEX [--response HEX]``: the OSGP digest of a request (code
  through sequence number) and, with ``--response``, of the response that follows it.
* ``osgp security auth-reply --key KEY --challenge HEX HEX``: the ISO/IEC 14908-1 reply to a
  challenge over the covered bytes (APDU, or OMA address ‖ APDU with a 12-byte key).
* ``osgp security mep-decrypt --key KEY --digest HEX HEX``: open an RC4-encrypted MEP request.
* ``osgp security device-key --psk KEY --device HEX``: the OSGP-AES-128-PSK device key (our
  construction, see docs/security.md).

Keys are given as text or hex (``0x…``, ``hex:…``, ``text:…``; see ``parse_key``). The legacy
commands print a warning: the legacy digest and RC4 are broken by design.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("security", help="digest, 14908 auth reply, MEP RC4, AES device keys")
    ss = p.add_subparsers(dest="security_command", metavar="ACTION", required=True)

    d = ss.add_parser("digest", help="OSGP digest of a request (and of its response)")
    d.add_argument("--key", required=True, help="16-byte MEP key or 12-byte OMA key, text or hex")
    d.add_argument("data", help="request bytes in hex, code through sequence number")
    d.add_argument("--response", help="response bytes in hex (code through data, no digest)")
    d.set_defaults(func=run)

    a = ss.add_parser("auth-reply", help="ISO/IEC 14908-1 challenge reply")
    a.add_argument("--key", required=True, help="6-byte domain key or 12-byte OMA key")
    a.add_argument("--challenge", required=True, help="8-byte challenge in hex")
    a.add_argument("data", help="covered bytes in hex, wire order (APDU, or OMA address + APDU)")
    a.set_defaults(func=run)

    m = ss.add_parser("mep-decrypt", help="decrypt and verify an RC4-encrypted MEP request")
    m.add_argument("--key", required=True, help="16-byte MEP key (MAK or MBK)")
    m.add_argument("--digest", required=True, help="the request's 8-byte digest in hex")
    m.add_argument("data", help="the encrypted span in hex (code through sequence number)")
    m.set_defaults(func=run)

    k = ss.add_parser("device-key", help="OSGP-AES-128-PSK per-device key (our construction)")
    k.add_argument("--psk", required=True, help="16-byte pre-shared key")
    k.add_argument("--device", required=True, help="device identity in hex (Neuron ID)")
    k.set_defaults(func=run)


class _BadInput(ValueError):
    """A command-line value that cannot be used; ``run`` prints it and exits with status 2."""


def _hex(text: str, what: str) -> bytes:
    from osgp.cli.decode import parse_hex

    try:
        return parse_hex([text])
    except ValueError as exc:
        raise _BadInput(f"{what} is not hex ({exc}): {text!r}") from None


def _key(text: str, sizes: tuple[int, ...]) -> bytes:
    from osgp.security.errors import KeyFormatError
    from osgp.security.keys import parse_key

    errors = []
    for size in sizes:
        try:
            return parse_key(text, size)
        except KeyFormatError as exc:
            errors.append(str(exc))
    want = " or ".join(map(str, sizes))
    raise _BadInput(f"not a {want}-byte key: {errors[0]}")


def run(args: argparse.Namespace) -> int:
    from osgp.security.errors import KeyFormatError, SecurityError
    from osgp.security.rc4 import LEGACY_WARNING

    try:
        cmd = args.security_command
        if cmd == "digest":
            from osgp.security.digest import DigestState

            print(LEGACY_WARNING, file=sys.stderr)
            state = DigestState(_key(args.key, (16, 12, 6))).update(_hex(args.data, "data"))
            print(f"request digest:  {state.digest().hex(' ')}")
            if args.response is not None:
                state.update(_hex(args.response, "response"))
                print(f"response digest: {state.digest().hex(' ')}")
        elif cmd == "auth-reply":
            from osgp.security.digest import auth_reply

            key = _key(args.key, (6, 12))
            reply = auth_reply(_hex(args.challenge, "challenge"), _hex(args.data, "data"), key)
            print(f"reply: {reply.hex(' ')}")
        elif cmd == "mep-decrypt":
            from osgp.security.rc4 import mep_open_request

            print(LEGACY_WARNING, file=sys.stderr)
            opened = mep_open_request(
                _hex(args.data, "data"), _hex(args.digest, "digest"), _key(args.key, (16,))
            )
            kind = "RC4-encrypted" if opened.encrypted else "plaintext"
            print(f"{kind} request, digest verified: {opened.plaintext.hex(' ')}")
        else:  # device-key
            from osgp.security.aes import derive_device_key

            key = derive_device_key(_key(args.psk, (16,)), _hex(args.device, "device"))
            print(f"device key: {key.hex()}")
    except _BadInput as exc:
        print(f"osgp security: {exc}", file=sys.stderr)
        return 2
    except KeyFormatError as exc:  # a key, challenge or digest of the wrong length: bad input
        print(f"osgp security: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except SecurityError as exc:
        print(f"osgp security: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0
