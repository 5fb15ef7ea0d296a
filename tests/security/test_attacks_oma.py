"""The OMA-digest key recovery (osgp.audit.oma_attack): it recovers the PLC and MEP keys of a
meter in legacy mode from one captured request and accept/refuse answers, changes nothing on
the meter while doing it, and fails against AES."""

from __future__ import annotations

import os

import pytest
from tests.security.attack_helpers import snapshot, without_key_usage

from osgp.audit.oma_attack import (
    attack_plc,
    capture_plc_request,
    demonstrate,
    recover_key,
    simulated_meter,
)
from osgp.security.digest import digest


@pytest.mark.parametrize("key_len", [12, 16])
@pytest.mark.parametrize("span_len", [5, 7, 40, 150, 300])
def test_recovers_any_key_from_one_pair_with_a_verification_oracle(
    key_len: int, span_len: int
) -> None:
    key, span = os.urandom(key_len), os.urandom(span_len)
    queries = 0

    def oracle(s: bytes, t: bytes) -> bool:
        nonlocal queries
        queries += 1
        return digest(s, key) == t

    result = recover_key(span, digest(span, key), key_len, oracle)
    assert result.recovered and result.key == key
    assert result.queries == queries
    assert 8 * key_len <= queries <= 2 * 8 * key_len  # one or two queries per key bit


def test_plc_key_of_a_served_rc4_meter_is_recovered_and_nothing_is_executed() -> None:
    meter = simulated_meter("rc4", seed=11)
    captured = capture_plc_request(meter)
    before = snapshot(meter)
    result = attack_plc(meter, captured)
    assert result.recovered and result.key == meter.keys.omak
    assert result.queries < 200
    # Forged requests carry sequence numbers outside the window: answered 0x0C, never executed.
    # Only the key usage counter moved (every accepted forgery counts as a use of the key).
    assert without_key_usage(snapshot(meter)) == without_key_usage(before)
    assert meter.plc.stats["sequence_errors"] == result.queries - result.refused


def test_lockout_does_not_stop_it() -> None:
    # Every refused guess is followed by an accepted one, which clears the failure count.
    meter = simulated_meter("rc4", seed=5, lockout=2)
    result = attack_plc(meter, capture_plc_request(meter))
    assert result.recovered and result.key == meter.keys.omak
    assert meter.plc.stats["locked_out"] == 0


@pytest.mark.parametrize("port", ["plc", "mep"])
def test_same_attack_against_aes_learns_nothing(port: str) -> None:
    demo = demonstrate(port, "aes", seed=2)
    assert not demo.result.recovered and demo.result.key is None
    assert demo.result.bits_learned == 0
    assert demo.result.queries <= 6 and demo.result.refused == demo.result.queries
    assert "AES" in demo.result.reason


def test_mep_key_of_a_served_meter_is_recovered() -> None:
    demo = demonstrate("mep", "rc4", seed=3)
    assert demo.result.recovered and demo.key_matches
    assert demo.result.key_len == 16 and demo.result.queries < 260


def test_recovered_plc_key_decrypts_later_rc4_traffic() -> None:
    from osgp.audit.oma_attack import LATER_REQUEST

    demo = demonstrate("plc", "rc4", seed=8)
    assert demo.decrypted is not None
    assert demo.decrypted[: len(LATER_REQUEST)] == LATER_REQUEST  # then the sequence number
    assert demonstrate("plc", "aes", seed=8).decrypted is None


def test_a_lossy_link_only_costs_queries() -> None:
    # Every 40th answer is lost (read as a refusal): the attack retries that bit with another
    # difference and still recovers the key.
    key, span = bytes.fromhex("5a1f00e3c4b27788d9016c3e"), bytes.fromhex("3000170102030a")
    calls = 0

    def lossy(s: bytes, t: bytes) -> bool:
        nonlocal calls
        calls += 1
        return calls % 40 != 0 and digest(s, key) == t

    result = recover_key(span, digest(span, key), 12, lossy)
    assert result.recovered and result.key == key
    assert any("neither prediction" in line for line in result.log)
