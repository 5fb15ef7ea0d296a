"""Keys: inventory, parsing, rights, security mode, lockout and usage counters."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osgp.clock import ManualClock
from osgp.security import AccessDenied, KeyFormatError, KeyUsageExhausted, LockedOut, ModeRefused
from osgp.security.keys import (
    DEFAULT_POLICY,
    KEY_INVENTORY,
    AccessLevel,
    AccessPolicy,
    KeyUsageCounter,
    LockoutCounter,
    SecurityMode,
    bt,
    check_security_mode,
    et,
    parse_key,
    parse_named_key,
)


def test_inventory_sizes() -> None:
    sizes = {name: spec.size for name, spec in KEY_INVENTORY.items()}
    assert sizes["OMAK"] == 12
    assert sizes["MAK"] == sizes["MBK"] == 16
    assert sizes["MK"] == sizes["PK"] == sizes["RK"] == 20
    assert sizes["DOMAIN"] == 6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("01010101010101010101010101010101", bytes([1]) * 16),
        ("0x0101010101010101010101010101010101010101", bytes([1]) * 16),  # 20 bytes, first 16
        ("01:01:01:01:01:01:01:01:01:01:01:01:01:01:01:01", bytes([1]) * 16),
        ("hex:01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10", bytes(range(1, 17))),
        ("text:0123456789abcdef", b"0123456789abcdef"),
        ("my-MEP-access-key", None),  # 17 characters: too long for 16 unless ≤ 20 → truncated
    ],
)
def test_parse_mep_key(text: str, expected: bytes | None) -> None:
    value = parse_named_key("mak", text)
    if expected is None:
        assert value == b"my-MEP-access-ke"
    else:
        assert value == expected


def test_optical_password_is_nul_padded_text() -> None:
    assert parse_named_key("RK", "secret") == b"secret" + bytes(14)
    assert parse_named_key("MK", "00000000000000000000") == b"0" * 20  # 20 chars: text
    assert parse_named_key("MK", "hex:" + "ab" * 20) == bytes([0xAB]) * 20


def test_parse_errors_are_clear() -> None:
    with pytest.raises(KeyFormatError, match="12 needed"):
        parse_named_key("OMAK", "short")
    with pytest.raises(KeyFormatError, match="at most 12"):
        parse_key("0x" + "00" * 13, 12)
    with pytest.raises(KeyFormatError, match="not a hex key"):
        parse_key("0xzz", 6)
    with pytest.raises(KeyFormatError, match="unknown key name"):
        parse_named_key("XK", "1")
    with pytest.raises(KeyFormatError, match="Latin-1"):
        parse_key("ключ", 6, pad=True)


@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=12, max_size=12))
def test_hex_round_trip(key: bytes) -> None:
    assert parse_named_key("OMAK", key.hex()) == key
    assert parse_named_key("OMAK", "0x" + key.hex().upper()) == key
    assert parse_named_key("OMAK", ":".join(f"{b:02x}" for b in key)) == key


# --- rights ---------------------------------------------------------------------------------

BT07, BT23, BT01, BT04 = bt(7), bt(23), bt(1), bt(4)


def test_mep_rights_follow_appendix_c() -> None:
    p = DEFAULT_POLICY
    # MBK: read all, write BT07/ET50/ET51/ET52 only, call EP16/EP17/EP39/EP61.
    assert p.can_read(AccessLevel.MBK, BT23)
    assert p.can_write(AccessLevel.MBK, BT07) and p.can_write(AccessLevel.MBK, et(52))
    assert not p.can_write(AccessLevel.MBK, BT23)
    assert p.can_execute(AccessLevel.MBK, et(16)) and p.can_execute(AccessLevel.MBK, et(39))
    assert not p.can_execute(AccessLevel.MBK, et(3))
    # MAK: writes BT23 and ET03, not the read-only tables; no key change procedure.
    assert p.can_write(AccessLevel.MAK, BT23) and p.can_write(AccessLevel.MAK, et(3))
    assert not p.can_write(AccessLevel.MAK, et(53))
    assert p.can_execute(AccessLevel.MAK, et(3))
    assert not p.can_execute(AccessLevel.MAK, et(20))
    with pytest.raises(AccessDenied, match="MBK may not write table 2051"):
        p.check_write(AccessLevel.MBK, et(3))


def test_optical_rights() -> None:
    p = AccessPolicy(key_tables=frozenset({et(99)}))
    # Open tables without a key.
    assert p.can_read(AccessLevel.OPEN, BT01) and p.can_read(AccessLevel.OPEN, et(3))
    assert not p.can_read(AccessLevel.OPEN, BT23)
    # RK reads, never writes; not BT04, not calibration, not keys.
    assert p.can_read(AccessLevel.RK, BT23)
    assert not p.can_read(AccessLevel.RK, BT04)
    assert not p.can_read(AccessLevel.RK, et(2))
    assert not p.can_read(AccessLevel.RK, et(99))
    assert not p.can_write(AccessLevel.RK, bt(54))
    assert not p.can_execute(AccessLevel.RK, bt(10))
    assert AccessPolicy(rk_time_set=True).can_execute(AccessLevel.RK, bt(10))
    # PK: no keys, no firmware download; MK: everything that is writable at all.
    assert not p.can_read(AccessLevel.PK, et(99)) and not p.can_write(AccessLevel.PK, et(99))
    assert not p.can_execute(AccessLevel.PK, et(9))
    assert p.can_execute(AccessLevel.MK, et(9)) and p.can_write(AccessLevel.MK, et(99))
    assert not p.can_write(AccessLevel.MK, bt(0))  # read-only by nature
    # A disabled PK (ET04.52) can do nothing.
    assert not AccessPolicy(pk_enabled=False).can_read(AccessLevel.PK, BT23)


def test_pending_table_has_base_rights() -> None:
    assert DEFAULT_POLICY.can_write(AccessLevel.MAK, 4096 + bt(54))
    assert not DEFAULT_POLICY.can_write(AccessLevel.MBK, 4096 + bt(54))


def test_security_mode_switch_refuses_rc4() -> None:
    check_security_mode(SecurityMode.RC4, SecurityMode.RC4)
    check_security_mode(SecurityMode.AES_128_PSK, SecurityMode.AES_128_PSK)
    with pytest.raises(ModeRefused, match="RC4 refused"):
        check_security_mode(SecurityMode.AES_128_PSK, SecurityMode.RC4)


# --- lockout ----------------------------------------------------------------------------------


def test_lockout_after_threshold_on_injected_clock() -> None:
    clock = ManualClock(1000.0)
    lock = LockoutCounter.from_et55(threshold=3, minutes=2)
    for _ in range(2):
        lock.check(clock.now())
        assert not lock.record_failure(clock.now())
    assert lock.record_failure(clock.now())  # the third consecutive failure locks
    assert lock.next_timer() == 1120.0
    clock.advance(60)
    with pytest.raises(LockedOut) as info:
        lock.check(clock.now())  # even a correct key would be refused now
    assert info.value.until == 1120.0
    assert info.value.response_code == 0x0B
    clock.advance(60)
    lock.handle_timer(clock.now())
    assert lock.next_timer() is None
    lock.check(clock.now())
    assert lock.failures == 0


def test_success_resets_consecutive_failures() -> None:
    lock = LockoutCounter(threshold=3, duration_s=10)
    lock.record_failure(0)
    lock.record_failure(0)
    lock.record_success(0)
    assert not lock.record_failure(0)
    assert not lock.locked(0)


def test_threshold_zero_disables() -> None:
    lock = LockoutCounter(threshold=0)
    for _ in range(100):
        lock.record_failure(0)
    assert not lock.locked(0)


# --- key usage ------------------------------------------------------------------------------


def test_key_usage_warns_at_80_percent_and_stops_at_limit() -> None:
    usage = KeyUsageCounter(limit=10)
    warnings = [usage.use() for _ in range(10)]
    assert warnings == [False] * 7 + [True] + [False] * 2
    with pytest.raises(KeyUsageExhausted, match="rotate"):
        usage.use()
    assert usage.count == 10
    usage.reset()
    assert usage.count == 0
    assert KeyUsageCounter().limit == 1_000_000


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=50), name=st.sampled_from(sorted(KEY_INVENTORY)))
def test_any_text_parses_or_raises_key_format_error(text: str, name: str) -> None:
    try:
        value = parse_named_key(name, text)
    except KeyFormatError:
        return
    assert len(value) == KEY_INVENTORY[name].size


@settings(max_examples=200, deadline=None)
@given(
    threshold=st.integers(1, 10),
    events=st.lists(st.tuples(st.booleans(), st.floats(0, 50)), max_size=40),
)
def test_lockout_properties(threshold: int, events: list[tuple[bool, float]]) -> None:
    lock = LockoutCounter(threshold=threshold, duration_s=100.0)
    now = 0.0
    consecutive = 0
    for failed, dt in events:
        now += dt
        if lock.locked(now):
            assert lock.locked_until is not None and now < lock.locked_until
            continue
        if failed:
            consecutive += 1
            started = lock.record_failure(now)
            assert started == (consecutive == threshold)
            if started:
                consecutive = 0
                assert lock.next_timer() == now + 100.0
        else:
            lock.record_success(now)
            consecutive = 0
    if lock.locked_until is not None:
        assert not lock.locked(lock.locked_until)


@settings(max_examples=200, deadline=None)
@given(limit=st.integers(1, 200), uses=st.lists(st.integers(1, 20), max_size=40))
def test_key_usage_warns_at_most_once(limit: int, uses: list[int]) -> None:
    usage = KeyUsageCounter(limit=limit)
    warnings = 0
    for n in uses:
        try:
            warnings += usage.use(n)
        except KeyUsageExhausted:
            assert usage.count + n > limit
    assert warnings <= 1
    assert usage.count <= limit
    assert warnings == (usage.count >= usage.warn_at)


def test_chapter5_access_tables_win_over_appendix_c() -> None:
    # MEP guide chapter 5: ET71 "Write MBK, MAK", ET97 and ET70 "Write MAK".
    assert DEFAULT_POLICY.can_write(AccessLevel.MBK, et(71))
    assert DEFAULT_POLICY.can_write(AccessLevel.MAK, et(97))
    assert DEFAULT_POLICY.can_write(AccessLevel.MAK, et(70))
    assert not DEFAULT_POLICY.can_write(AccessLevel.MBK, et(70))
