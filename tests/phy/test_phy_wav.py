"""A frame modulated to a WAV file and demodulated back gives the same bytes (API and CLI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile
from scipy.signal import resample_poly

from osgp.cli import main
from osgp.lon.crc import append_crc
from osgp.phy import params as P
from osgp.phy.modem import Demodulator, PhyError, modulate
from osgp.phy.params import Carrier
from osgp.phy.wav import read_for_modem, read_wav, write_wav

LPDU = bytes.fromhex("01090185018A420310DEAD")


@pytest.mark.parametrize("carrier", list(Carrier))
def test_wav_round_trip(tmp_path: Path, carrier: Carrier) -> None:
    frame = append_crc(LPDU)
    path = tmp_path / "f.wav"
    write_wav(path, modulate(frame, carrier))
    x, rate = read_wav(path)
    assert rate == round(P.SAMPLE_RATE)
    assert [f.data for f in Demodulator(carrier).demodulate(x)] == [frame]


def test_cli_modulate_then_demodulate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "out.wav"
    assert main(["phy", "modulate", LPDU.hex(), "-o", str(path), "--carrier", "secondary"]) == 0
    assert "CRC bdd3" in capsys.readouterr().out
    assert main(["phy", "demodulate", str(path), "--carrier", "secondary"]) == 0
    out = capsys.readouterr().out
    assert f"{LPDU.hex()} crc bdd3  CRC good" in out
    assert "1 frame(s) found, 1 with a good CRC" in out


def test_cli_noisy_repeated_frames_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "noisy.wav"
    args = ["phy", "modulate", LPDU.hex(), "-o", str(path), "--ebn0", "12", "--repeat", "3"]
    assert main([*args, "--attenuation", "30", "--clock-ppm", "60", "--seed", "4"]) == 0
    capsys.readouterr()
    assert main(["phy", "demodulate", str(path), "--json"]) == 0
    import json

    frames = json.loads(capsys.readouterr().out)
    assert [f["lpdu"] for f in frames] == [LPDU.hex()] * 3
    assert all(f["crc_ok"] for f in frames)


def test_cli_reports_bad_crc_with_exit_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.wav"
    bad = LPDU + b"\x00\x00"
    assert main(["phy", "modulate", bad.hex(), "--raw", "-o", str(path)]) == 0
    capsys.readouterr()
    assert main(["phy", "demodulate", str(path)]) == 1
    assert "CRC BAD" in capsys.readouterr().out


def test_cli_rejects_bad_hex(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["phy", "modulate", "zz", "-o", str(tmp_path / "x.wav")]) == 2
    assert "not hexadecimal" in capsys.readouterr().err


def test_cli_reports_unwritable_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    assert main(["phy", "modulate", LPDU.hex(), "-o", str(missing / "x.wav")]) == 2
    assert "cannot write WAV file" in capsys.readouterr().err
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["phy", "measure", "--quick", "-o", str(blocker / "out")]) == 2
    assert "cannot write to" in capsys.readouterr().err


def test_capture_at_192_khz_is_resampled(tmp_path: Path) -> None:
    """Sound-card captures run at 192 kHz; Nyquist (96 kHz) still covers the carriers."""
    frame = append_crc(LPDU * 4)
    x = resample_poly(modulate(frame), 5, 6)  # 230.4 kHz -> 192 kHz
    path = tmp_path / "c192.wav"
    wavfile.write(path, 192_000, x.astype(np.float32))  # a float WAV, as some tools write
    assert [f.data for f in Demodulator().demodulate(read_for_modem(path))] == [frame]


def test_capture_at_96_khz_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "c96.wav"
    write_wav(path, np.zeros(1000), rate=96_000)
    with pytest.raises(PhyError, match="too low"):
        read_for_modem(path)


def test_32_bit_stereo_wav_reads_first_channel(tmp_path: Path) -> None:
    frame = append_crc(LPDU)
    x = modulate(frame)
    pcm = (x * (2**31 - 1)).astype(np.int32)
    stereo = np.stack([pcm, np.zeros_like(pcm)], axis=1)
    path = tmp_path / "s.wav"
    wavfile.write(path, round(P.SAMPLE_RATE), stereo)
    y, _ = read_wav(path)
    assert np.max(np.abs(y - x)) < 1e-6
    assert [f.data for f in Demodulator().demodulate(y)] == [frame]


def test_not_a_wav_file_is_a_phy_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.wav"
    path.write_bytes(b"RIFF junk")
    with pytest.raises(PhyError, match="cannot read WAV"):
        read_wav(path)
