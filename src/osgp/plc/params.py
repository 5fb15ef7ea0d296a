"""Every number of the power-line channel model, in one place, with its source or assumption.

No published CENELEC-A channel model with numbers was found (facts §8, "NOT FOUND"), so most
values here are OUR ASSUMPTIONS, chosen to be physically plausible and calibrated so that the
shipped scenarios behave like the LV networks OSGP was built for: meters near the transformer hear
the concentrator directly, a realistic share (>= 20 %) at the ends of feeders does not and needs a
repeater, and links near the edge come and go with the daily noise of household loads (see
``docs/plc.md``, "Calibration"). Each field says which kind of value it is:

- FACT: taken from the facts file with its source tag;
- ASSUMPTION: our choice, with the reasoning.

Levels are in dBµV at the node's coupling point, noise is measured in a bandwidth equal to the
bit rate, so SNR (dB) = Eb/N0 (dB) for the BER curve.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

__all__ = ["DEFAULT", "PARAMETER_NOTES", "ChannelParams"]


@dataclass(frozen=True)
class ChannelParams:
    """The channel model's parameters (see :data:`PARAMETER_NOTES` for each one's rationale)."""

    # -- carriers and timing ------------------------------------------------------------------
    primary_khz: float = 86.0
    secondary_khz: float = 75.0
    bit_rate: float = 3600.0
    # -- transmitter ----------------------------------------------------------------------------
    tx_level_dbuv: float = 110.0
    # -- attenuation ----------------------------------------------------------------------------
    cable_db_per_km_primary: float = 80.0
    cable_db_per_km_secondary: float = 68.0
    branch_loss_db: float = 4.0
    cross_phase_loss_db: float = 15.0
    secondary_branch_factor: float = 0.85
    # -- noise ----------------------------------------------------------------------------------
    noise_floor_dbuv: float = 36.0
    noisy_load_max_db: float = 36.0
    noisy_load_share: float = 0.6
    secondary_noise_offset_db: float = 2.0
    impulse_rate_per_s: float = 0.5
    impulse_level_dbuv: float = 70.0
    # -- receiver -------------------------------------------------------------------------------
    carrier_sense_snr_db: float = 3.0
    capture_margin_db: float = 10.0
    detect_delay_s: float = 0.0005
    sync_bits: float = 48.0
    # -- link classification (link table, calibration) -------------------------------------------
    usable_link_fer: float = 0.5
    reference_frame_bytes: int = 20

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ValueError(f"channel parameter {f.name} must be a finite number, got {v!r}")
            if v < 0:
                raise ValueError(f"channel parameter {f.name} must be >= 0, got {v}")
        if not isinstance(self.reference_frame_bytes, int) or self.reference_frame_bytes < 1:
            raise ValueError("reference_frame_bytes must be a positive integer")
        if not 0.0 <= self.noisy_load_share <= 1.0:
            raise ValueError("noisy_load_share must be 0..1")
        if not 0.0 < self.usable_link_fer < 1.0:
            raise ValueError("usable_link_fer must be between 0 and 1")

    def carrier_khz(self, alt_path: bool) -> float:
        """The alt-path bit selects the secondary carrier (PLDB p.11: retries go on it)."""
        return self.secondary_khz if alt_path else self.primary_khz

    def cable_db_per_km(self, alt_path: bool) -> float:
        return self.cable_db_per_km_secondary if alt_path else self.cable_db_per_km_primary

    def with_overrides(self, values: dict[str, Any]) -> ChannelParams:
        """A copy with some fields changed (scenario files use this); unknown names raise."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown channel parameter(s): {', '.join(unknown)}")
        return replace(self, **values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT = ChannelParams()

#: Why each parameter has its value (the docs table is generated from this).
PARAMETER_NOTES: dict[str, str] = {
    "primary_khz": "FACT/DERIVED (ECH, PLDB p.11): A-band carriers 86 and 75 kHz; 86 primary.",
    "secondary_khz": "FACT/DERIVED (ECH, PLDB p.11): secondary carrier, used with the alt-path "
    "bit (the node's last two tries).",
    "bit_rate": "FACT (PLDB p.12): 3.6 kbit/s in the A band.",
    "tx_level_dbuv": "ASSUMPTION: 110 dBµV at the coupling point, well below the EN 50065-1 "
    "band-A limit (~121 dBµV at 86 kHz, UNCERTAIN in facts §8) because a 1 ohm amplifier (PLDB) "
    "drives the low (1-5 ohm) access impedance of a LV network. Calibrated (docs/plc.md).",
    "cable_db_per_km_primary": "ASSUMPTION: 80 dB/km at 86 kHz for loaded LV underground cable "
    "(NAYY), including the distributed load of the street; chosen with branch_loss_db so that "
    "the ends of long feeders (~0.4 km, 20+ side connections) are out of direct reach, which is "
    "the situation OSGP's repeating exists for. Calibrated (docs/plc.md).",
    "cable_db_per_km_secondary": "ASSUMPTION: cable loss grows with frequency; 75 kHz gets "
    "15 % less than 86 kHz.",
    "branch_loss_db": "ASSUMPTION: 4 dB per side connection a path passes (another cable at a "
    "branch point, or a household attached there): each low-impedance side path at 80 kHz "
    "shunts part of the signal.",
    "cross_phase_loss_db": "ASSUMPTION: 15 dB between meters on different phases (coupling "
    "through cable capacitance and the transformer); the concentrator injects on all phases.",
    "secondary_branch_factor": "ASSUMPTION: branch losses at 75 kHz are 0.85 x those at "
    "86 kHz (household filter capacitors shunt less at the lower frequency).",
    "noise_floor_dbuv": "ASSUMPTION: 36 dBµV background noise in a 3.6 kHz band on a quiet "
    "line; with tx_level_dbuv a quiet line tolerates ~66 dB of attenuation at 8 dB SNR (PLDB "
    "p.12 claims > 80 dB dynamic range for its receiver; the line noise, not the receiver, "
    "limits us). Calibrated (docs/plc.md).",
    "noisy_load_max_db": "ASSUMPTION: a noisy household (switch-mode supplies, dimmers, "
    "chargers) raises its own connection point's noise by up to 36 dB at its peak load; the noise "
    "spreads to other nodes with the same attenuation as a signal.",
    "noisy_load_share": "ASSUMPTION: 60 % of households carry a noisy load; each one's strength "
    "is drawn once per scenario seed (uniform 0..noisy_load_max_db).",
    "secondary_noise_offset_db": "ASSUMPTION: background noise rises towards lower frequency "
    "(1/f-like); 75 kHz sees 2 dB more than 86 kHz, so the carriers differ per link.",
    "impulse_rate_per_s": "ASSUMPTION: asynchronous impulsive noise at a receiver, 0.5 "
    "destructive-candidate impulses per second at full load (scaled by the load profile).",
    "impulse_level_dbuv": "ASSUMPTION: an impulse reaches 70 dBµV in the band at the receiver; "
    "it destroys a frame received below that level (SIR < 0 dB for its duration).",
    "carrier_sense_snr_db": "ASSUMPTION: a node's carrier detect triggers when a frame arrives "
    "3 dB over its noise (a detector that must keep false alarms rare).",
    "capture_margin_db": "ASSUMPTION: a frame survives an overlapping one at a receiver only if "
    "it is at least 10 dB stronger there (BPSK needs ~7 dB Eb/N0 for short frames, plus margin).",
    "detect_delay_s": "ASSUMPTION: 0.5 ms from a frame's start until other nodes sense it; must "
    "be shorter than one beta2 slot (2.78 ms on PL-20A, facts §5) for CSMA to work.",
    "sync_bits": "ASSUMPTION: preamble and sync bits that must be received for frame sync; added "
    "to the frame's bits in the FER (as in osgp.phy's modem: 32 + 16).",
    "usable_link_fer": "CHOICE: a link is 'usable' (the meter hears the concentrator directly) "
    "when a 20-byte frame gets through at least half of the time at that moment.",
    "reference_frame_bytes": "CHOICE: 20-byte LPDU (a typical OSGP read request) for link figures.",
}
