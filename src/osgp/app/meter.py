"""A served, table-backed meter: one :class:`TableStore` and :class:`TableServer` behind the three
framings, with its keys.

* Optical port (C12.18): :meth:`ServedMeter.optical_session` makes the session object of one
  connection; every connection shares the meter's lockout counter (ET55.22/23).
* MEP port: :meth:`ServedMeter.mep_session`; every connection shares the MEP sequence number.
* PLC: :attr:`ServedMeter.plc` answers request APDUs (ET04.127 selects RC4 or AES; ET55.20/21
  lockout).

The lockout thresholds and durations are read from ET55 when the store has it (a threshold of 0
there falls back to the meter's defaults, so that a default image does not silently disable the
lockout: our choice); the security mode from ET04 offset 127.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from osgp.app.framing import Lockout, SequenceCheck, sequence_check
from osgp.app.framing.mep import MepServer, MepServerConfig
from osgp.app.framing.optical import OpticalServer, OpticalServerConfig
from osgp.app.framing.plc import PlcServer, PlcServerConfig, SecurityMode
from osgp.app.server import TableServer
from osgp.app.store import TableStore
from osgp.security.keys import KeyUsageCounter
from osgp.security.seqnum import SequenceValidator

ET04 = 2048 + 4
ET55 = 2048 + 55
ET04_SECURITY_MODE = 127
ET04_MAX_KEY_USAGE = 123  # UINT32
ET04_IDT_VERSION = 116  # UINT8 "IDT Version"
ET04_PK_ACCESS = 52  # UINT8: 0 enabled, 1 disabled
ET04_PLC_SEQ = 0  # UINT32 "current LonTalk message sequence number"
ET04_MEP_SEQ = 129  # ARRAY[2] of UINT32, one per MEP port (fw >= 4.0); we serve port 1
ET54 = 2048 + 54
ET54_UNICAST_KEY_USAGE = 82  # UINT32
ET55_PLC_LOCKOUT = 20  # threshold, then duration in minutes at 21
ET55_OPTICAL_LOCKOUT = 22  # threshold, then duration in minutes at 23

#: Used when ET55 holds 0 (the factory value): our defaults.
DEFAULT_OPTICAL_LOCKOUT = (5, 60.0)
DEFAULT_PLC_LOCKOUT = (30, 3600.0)


@dataclass
class MeterKeys:
    """The keys of one meter, raw bytes (the CLI parses them with
    :func:`osgp.security.keys.parse_named_key`: text or hex)."""

    mk: bytes | None = None
    pk: bytes | None = None
    rk: bytes | None = None
    mak: bytes | None = None
    mbk: bytes | None = None
    omak: bytes = bytes(12)
    aes_psk: bytes | None = None

    def optical(self) -> dict[str, bytes]:
        return {n: k for n, k in (("MK", self.mk), ("PK", self.pk), ("RK", self.rk)) if k}

    def mep(self) -> dict[str, bytes]:
        return {n: k[:16] for n, k in (("MAK", self.mak), ("MBK", self.mbk)) if k}


@dataclass
class ServedMeter:
    """A meter as seen from its ports."""

    store: TableStore = field(default_factory=TableStore.with_default_tables)
    keys: MeterKeys = field(default_factory=MeterKeys)
    device_id: bytes = bytes.fromhex("000000000001")
    on_event: Callable[[str, dict[str, object]], None] | None = None
    #: Seconds between a BT07 write and the BT08 result. The guide allows up to one second; we
    #: post at once by default so that clients reading BT08 right after BT07 (termineter) work.
    posting_delay: float = 0.0
    #: NAK the first optical packet of each session (Gen 2/3 UART switch-over, [OPT] p.14).
    optical_nak_first: bool = False
    #: The MEP port accepts only OSGP-AES-128-PSK requests (the analogue of ET97 "Require TLS").
    mep_require_aes: bool = False
    #: The MEP port accepts only TLS (ET97 "Require TLS" for MEP1).
    mep_require_tls: bool = False

    def __post_init__(self) -> None:
        self.server = TableServer(self.store, posting_delay=self.posting_delay)
        self.optical_lockout = Lockout(
            *DEFAULT_OPTICAL_LOCKOUT,
            settings=lambda: self._et55(ET55_OPTICAL_LOCKOUT, DEFAULT_OPTICAL_LOCKOUT),
        )
        self.mep_sequence = SequenceValidator(int.from_bytes(os.urandom(4), "big"))
        self.plc_sequence = SequenceValidator(int.from_bytes(os.urandom(4), "big"))
        limit = 0
        if self.store.has(ET04) and self.store.size(ET04) >= ET04_MAX_KEY_USAGE + 4:
            raw = self.store.image(ET04)[ET04_MAX_KEY_USAGE : ET04_MAX_KEY_USAGE + 4]
            limit = int.from_bytes(raw, "little")
        self.plc_key_usage = KeyUsageCounter(limit) if limit else KeyUsageCounter()
        self._mep_counter = int.from_bytes(os.urandom(4), "big")
        self._mirror(ET04, ET04_PLC_SEQ, self.plc_sequence.current)
        self._mirror(ET04, ET04_MEP_SEQ, self.mep_sequence.current)
        self.plc = PlcServer(
            self.server,
            PlcServerConfig(
                omak=self.keys.omak,
                security_mode=self.security_mode,
                aes_key=self.keys.aes_psk,
                device_id=self.device_id,
                aes_response_counter=int.from_bytes(os.urandom(4), "big"),
                sequence_check=self._mirrored(self.plc_sequence, ET04_PLC_SEQ),
                key_usage=self.plc_key_usage,
                lockout=Lockout(
                    *DEFAULT_PLC_LOCKOUT,
                    settings=lambda: self._et55(ET55_PLC_LOCKOUT, DEFAULT_PLC_LOCKOUT),
                ),
                on_event=self._plc_event,
                after_response=self._apply_plc_key_change,
            ),
        )

    def _apply_plc_key_change(self) -> None:
        """EP20 handed a new unicast OMA key (key id 0) to the device hooks; the response to
        EP20 went out under the old key, so the new one takes effect now and its usage count
        starts again (ET54.82)."""
        new = self.store.hooks.plc_keys.pop(0, None)
        if new is None or len(new) != len(self.keys.omak) or new == self.keys.omak:
            return
        self.keys.omak = new
        self.plc.config.omak = new
        self.plc_key_usage.reset()
        self._mirror(ET54, ET54_UNICAST_KEY_USAGE, self.plc_key_usage.count)

    def _mirror(self, table: int, offset: int, value: int) -> None:
        """Show a counter in its table (little-endian UINT32) when the store has room for it."""
        if self.store.has(table) and self.store.size(table) >= offset + 4:
            self.store.patch(table, offset, value.to_bytes(4, "little"))

    def _mirrored(self, validator: SequenceValidator, offset: int) -> SequenceCheck:
        check = sequence_check(validator)

        def mirrored(seq: int) -> int | None:
            refused = check(seq)
            if refused is None:
                self._mirror(ET04, offset, validator.current)
            return refused

        return mirrored

    def _plc_event(self, name: str, info: dict[str, object]) -> None:
        if name == "key_used":
            self._mirror(ET54, ET54_UNICAST_KEY_USAGE, self.plc_key_usage.count)
        elif self.on_event is not None:
            self.on_event(name, info)

    def _et55(self, offset: int, default: tuple[int, float]) -> tuple[int, float]:
        if not self.store.has(ET55) or self.store.size(ET55) < offset + 2:
            return default
        image = self.store.image(ET55)
        threshold, minutes = image[offset], image[offset + 1]
        if threshold == 0:
            return default
        return threshold, 60.0 * (minutes or 1)

    def bump_interface_version(self) -> None:
        """The interface (IDT) version changed: ET04.116 + 1 and both sequence numbers + 25, so
        that the next MEP/PLC request gets 0x0C (MEP guide p.53: a hint to re-read ET04/ET42)."""
        if self.store.has(ET04) and self.store.size(ET04) > ET04_IDT_VERSION:
            version = self.store.image(ET04)[ET04_IDT_VERSION]
            self.store.patch(ET04, ET04_IDT_VERSION, bytes([(version + 1) & 0xFF]))
        self._mirror(ET04, ET04_MEP_SEQ, self.mep_sequence.bump_interface_version())
        self._mirror(ET04, ET04_PLC_SEQ, self.plc_sequence.bump_interface_version())

    def _next_mep_counter(self) -> int:
        """One AES response counter for all MEP sessions of the meter (never reused)."""
        self._mep_counter = (self._mep_counter + 1) & 0xFFFFFFFF
        return self._mep_counter

    def optical_key_enabled(self, level: str) -> bool:
        """PK is refused while ET04.52 "PK Access" is 1 (disabled); MK and RK always count."""
        if level == "PK" and self.store.has(ET04) and self.store.size(ET04) > ET04_PK_ACCESS:
            return self.store.image(ET04)[ET04_PK_ACCESS] != 1
        return True

    def security_mode(self) -> int:
        """ET04.127: 0 RC4, 2 OSGP-AES-128-PSK."""
        if self.store.has(ET04) and self.store.size(ET04) > ET04_SECURITY_MODE:
            return self.store.image(ET04)[ET04_SECURITY_MODE]
        return SecurityMode.RC4

    def handle_c12(self, request: bytes, access: str, now: float) -> bytes:
        return self.server.handle_c12(request, access, now)

    def optical_session(self) -> OpticalServer:
        return OpticalServer(
            self.server,
            OpticalServerConfig(
                keys=self.keys.optical(),
                lockout=self.optical_lockout,
                key_enabled=self.optical_key_enabled,
                nak_first_packet=self.optical_nak_first,
                on_event=self.on_event,
            ),
        )

    def mep_session(self, *, inter_byte_timeout: float | None = 0.05) -> MepServer:
        return MepServer(
            self.server,
            MepServerConfig(
                keys=self.keys.mep(),
                require_aes=self.mep_require_aes,
                require_tls=self.mep_require_tls,
                device_id=self.device_id,
                aes_counter=self._next_mep_counter,
                sequence_check=self._mirrored(self.mep_sequence, ET04_MEP_SEQ),
                inter_byte_timeout=inter_byte_timeout,
                on_event=self.on_event,
            ),
        )


__all__ = ["MeterKeys", "ServedMeter"]
