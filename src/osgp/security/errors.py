"""The errors of ``osgp.security``.

Every failure the security layer reports is a :class:`SecurityError`. Servers map them onto OSGP
response codes (see :attr:`SecurityError.response_code`): a bad digest or key is 0x0B, a sequence
number outside the window is 0x0C with the number the peer should use next.
"""

from __future__ import annotations


class SecurityError(Exception):
    """Base class of every error raised by ``osgp.security``."""

    #: The OSGP/C12 response code a server answers with, or ``None`` if no code fits.
    response_code: int | None = None


class KeyFormatError(SecurityError, ValueError):
    """A key was given with the wrong length or could not be parsed."""


class AuthenticationFailed(SecurityError):
    """A digest, CCM tag or password did not verify (OSGP response code 0x0B)."""

    response_code = 0x0B


class ReplayDetected(SecurityError):
    """A sequence number was old, repeated or too far ahead (OSGP response code 0x0C).

    ``expected_seq`` is the value the 0x0C reply carries: the server's current sequence number,
    which the guide calls "the correct sequence number". The client's next request must use a
    number 1..8 above it; ``next_seq`` (= expected_seq + 1) is the one to use, as in the MEP
    guide's example (reply 0x77635B90, retry with 0x77635B91).
    """

    response_code = 0x0C

    def __init__(self, expected_seq: int, received_seq: int | None = None) -> None:
        self.expected_seq = expected_seq
        self.received_seq = received_seq
        got = "" if received_seq is None else f", got 0x{received_seq:08X}"
        super().__init__(
            f"sequence number out of window (server at 0x{expected_seq:08X}{got}; "
            f"use 0x{self.next_seq:08X})"
        )

    @property
    def next_seq(self) -> int:
        return (self.expected_seq + 1) & 0xFFFFFFFF


class LockedOut(SecurityError):
    """Authentication is refused because too many attempts failed (ET55.20/21 lockout)."""

    response_code = 0x0B

    def __init__(self, until: float) -> None:
        self.until = until
        super().__init__(f"locked out after repeated authentication failures until t={until:.3f}")


class ModeRefused(SecurityError):
    """A message used a security mode the device no longer accepts (ET04.127 = AES refuses RC4)."""

    response_code = 0x0B


class AccessDenied(SecurityError):
    """The access level in use has no right to this table or procedure (response code 0x03)."""

    response_code = 0x03


class SecurityDecodeError(SecurityError, ValueError):
    """A security field (sequence number, 0x0C reply, CCM frame) is malformed; names field and
    offset."""

    response_code = 0x01


class KeyUsageExhausted(SecurityError):
    """A key reached its maximum usage count (ET04.123) and must be rotated."""


__all__ = [
    "AccessDenied",
    "AuthenticationFailed",
    "KeyFormatError",
    "KeyUsageExhausted",
    "LockedOut",
    "ModeRefused",
    "ReplayDetected",
    "SecurityDecodeError",
    "SecurityError",
]
