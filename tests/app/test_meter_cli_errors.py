"""``osgp meter serve`` refuses unusable options with a one-line message and status 2."""

from __future__ import annotations

import pytest

from osgp.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rk", "0xZZ", "--optical", "pty"], "--rk: not a hex key"),
        (["--mak", "0x00", "--optical", "pty"], "--mak: key is 1 bytes, 16 needed"),
        (["--optical", "tcp://127.0.0.1:abc"], "port: not a number: 'abc'"),
        (["--optical", "tcp://127.0.0.1:99999"], "port must be 0..65535"),
        (["--optical", "/nonexistent/tty"], "cannot open an endpoint"),
        (["--optical-lockout", "x", "--optical", "pty"], "lockout: not a number"),
        (["--optical-lockout", "300", "--optical", "pty"], "N and MINUTES must be 0..255"),
        (["--cnip", "udp://127.0.0.1:0", "--domain", "zz"], "--domain: not hex"),
        (["--cnip", "udp://127.0.0.1:0", "--cnip-peer", "h:p"], "--cnip-peer port"),
    ],
)
def test_bad_option_exits_2_with_a_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["meter", "serve", "--duration", "0", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
