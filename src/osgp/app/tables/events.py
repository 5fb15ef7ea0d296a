"""Event IDs of the BT74 history log (and ET79), for labelling and for devices that log them.

From the Echelon ANSI meter v3.1 user's guide pages 38-49 as collected in
``facts-osgp-application.md`` §7 (VERIFIED there; the list is partial, and whether IEC OSGP
meters use the same numbers is UNCERTAIN, see docs/tables.md).  "Table Written To" and
"Procedure Invoked" exist but their IDs were not found, so they are not listed.
"""

from __future__ import annotations

__all__ = ["EVENT_NAMES", "event_name"]

EVENT_NAMES: dict[int, str] = {
    1: "Primary Power Down",
    2: "Primary Power Up",
    3: "Time Changed",
    24: "Season Change",
    26: "Special Schedule Activation",
    27: "Tier Switch Change",
    28: "Pending Table Activation",
    29: "Pending Table Clear",
    30: "Test Mode Started",
    31: "Test Mode Stopped",
    36: "Meter Reprogrammed",
    37: "Configuration Error",
    38: "System Reset",
    50: "Disconnect Switch Error",
    64: "Load Profile Overflow",
    66: "Load Disconnect State Changed",
    67: "Control Relay Open",
    68: "Phase Loss",
    69: "Phase Inversion",
    70: "PLC Config Failure",
    71: "General Error",
    72: "Invalid Password",
    74: "Current on Missing/Unused Phase",
    77: "Software CRC Error",
    78: "Code Bank Changed",
    79: "LP Backfill Failed",
    80: "MEP Installed/Removed",
    81: "MEP Alarm",
    82: "MEP Auto-Discovery Complete",
    83: "Phase Rotation Changed",
    84: "Prepay Credit Exhausted",
    85: "Prepay Warning Acknowledged",
    87: "Manufacturer Log Entry Occurred",
    88: "Log Dimension Changed",
    89: "Magnetic Tamper",
    90: "Access Lockout Override",
    91: "Power Quality State Changed",
    94: "Unread LP Entries Exist",
    96: "MEP Status Changed",
    97: "Max Power Level Threshold Switched",
    98: "Voltage Sag",
    99: "Voltage Swell",
    100: "Max V-THD",
    101: "Max I-THD",
    102: "Max VA-THD",
    103: "Average V-THD",
    104: "Average I-THD",
    105: "Average VA-THD",
    106: "Disconnect Pulsed",
    107: "Load Side Voltage Detected",
}


def event_name(event_id: int) -> str:
    """The event's name, or '' when the ID is not in the (partial) list."""
    return EVENT_NAMES.get(event_id, "")
