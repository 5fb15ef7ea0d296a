"""``osgp security``: the digest of the guide's example, MEP decryption, failures exit non-zero."""

from __future__ import annotations

import pytest

from osgp.cli import main

MAK_HEX = "0x" + "01" * 16


def test_digest_command_prints_the_guide_digests(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        ["security", "digest", "--key", MAK_HEX, "3f0017000000002c01020304", "--response",
         "0c77635b90"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert rc == 0
    assert "request digest:  74 86 1f 6d 76 58 dd 56" in out
    assert "response digest: 35 86 3c 1d f5 b9 14 82" in out
    assert "broken by design" in err


def test_mep_decrypt_command(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--digest", "74861f6d7658dd56", "9296314bf39c549e30dc1aaa"]
    assert main(["security", "mep-decrypt", "--key", MAK_HEX, *args]) == 0
    assert "3f 00 17 00 00 00 00 2c 01 02 03 04" in capsys.readouterr().out
    assert main(["security", "mep-decrypt", "--key", "0x" + "02" * 16, *args]) == 1
    assert "AuthenticationFailed" in capsys.readouterr().err


def test_hex_arguments_take_the_spellings_of_osgp_decode(
    capsys: pytest.CaptureFixture[str],
) -> None:
    psk = "0x000102030405060708090a0b0c0d0e0f"
    outs = []
    for device in ("04d012345678", "04:d0:12:34:56:78", "04-d0-12-34-56-78", "0x04d012345678"):
        assert main(["security", "device-key", "--psk", psk, "--device", device]) == 0
        outs.append(capsys.readouterr().out)
    assert len(set(outs)) == 1 and outs[0].startswith("device key: ")


def test_bad_key_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["security", "auth-reply", "--key", "abc", "--challenge", "00" * 8, "01"]) == 2
    assert "6 needed" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["device-key", "--psk", "00" * 16, "--device", "zz"], "device is not hex"),
        (["auth-reply", "--key", "00" * 6, "--challenge", "00", "01"], "challenge must be 8"),
        (["mep-decrypt", "--key", "00" * 16, "--digest", "00", "00"], "digest must be 8"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["security", *argv]) == 2
    assert message in capsys.readouterr().err
