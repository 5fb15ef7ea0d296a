"""Straightforward, unoptimised ports of the published digest loops, used as test oracles.

``naive_mep_digest`` follows the MEP guide Appendix A loop (address order, zero-padded last pass,
one pass for empty input); ``naive_lon_encrypt`` follows lon-stack-dx ``Encrypt`` (state from the
challenge, bytes consumed from the end, no pass for empty input).
"""

from __future__ import annotations


def _iterations(key_len: int) -> int:
    return key_len if key_len == 6 else key_len + key_len // 2


def _rotl1(n: int) -> int:
    return ((n << 1) | (n >> 7)) & 0xFF


def _rotr1(n: int) -> int:
    return ((n >> 1) | (n << 7)) & 0xFF


def _step(s: list[int], j: int, m: int, bit: int) -> None:
    n = ~(s[j] + j) & 0xFF
    k = (j + 1) % 8
    if bit:
        s[j] = (s[k] + m + _rotl1(n)) & 0xFF
    else:
        s[j] = (s[k] + m - _rotr1(n)) & 0xFF


def naive_mep_digest(data: bytes, key: bytes, state: bytes = bytes(8)) -> bytes:
    s = list(state)
    it = _iterations(len(key))
    idx = 0
    while True:
        for i in range(it):
            for j in range(7, -1, -1):
                m = data[idx] if idx < len(data) else 0
                idx += 1
                _step(s, j, m, (key[i % len(key)] >> (7 - j)) & 1)
        if idx >= len(data):
            return bytes(s)


def naive_lon_encrypt(challenge: bytes, apdu: bytes, key: bytes) -> bytes:
    s = list(challenge)
    it = _iterations(len(key))
    remaining = len(apdu)
    while remaining > 0:
        for i in range(it):
            for j in range(7, -1, -1):
                if remaining > 0:
                    remaining -= 1
                    m = apdu[remaining]
                else:
                    m = 0
                _step(s, j, m, key[i % len(key)] & (1 << (7 - j)))
    return bytes(s)
