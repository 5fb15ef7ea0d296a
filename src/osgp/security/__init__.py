"""Cryptography shared by every layer of osgp.

* :mod:`osgp.security.digest`  the OSGP/OMA 8-byte digest and the 14908-1 authentication reply
* :mod:`osgp.security.rc4`     RC4, legacy PLC RC4 and MEP RC4 (weak by design: use AES)
* :mod:`osgp.security.aes`     OSGP-AES-128-PSK as chosen by this project (AES-CCM + CMAC KDF)
* :mod:`osgp.security.seqnum`  4-byte sequence numbers, window of 8, 0x0C recovery
* :mod:`osgp.security.keys`    key inventory, key parsing, access levels, usage and lockout
* :mod:`osgp.security.errors`  the :class:`SecurityError` family
"""

from osgp.security.digest import DigestState, auth_reply, digest, response_digest
from osgp.security.errors import (
    AccessDenied,
    AuthenticationFailed,
    KeyFormatError,
    KeyUsageExhausted,
    LockedOut,
    ModeRefused,
    ReplayDetected,
    SecurityError,
)

__all__ = [
    "AccessDenied",
    "AuthenticationFailed",
    "DigestState",
    "KeyFormatError",
    "KeyUsageExhausted",
    "LockedOut",
    "ModeRefused",
    "ReplayDetected",
    "SecurityError",
    "auth_reply",
    "digest",
    "response_digest",
]
