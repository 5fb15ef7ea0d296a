"""Layer 1: a software BPSK narrow-band power-line modem in the style of ETSI TS 103 908.

- :mod:`osgp.phy.params`: every parameter, with its source or the reason for our choice;
- :mod:`osgp.phy.modem`: PHY framing, :func:`modulate`, :class:`Demodulator`;
- :mod:`osgp.phy.channel`: attenuation, white noise, interferers, mains-synchronous impulses;
- :mod:`osgp.phy.measure`: BER/FER measurements against theory, curve file and plot;
- :mod:`osgp.phy.curve`: :class:`MeasuredCurve`, the loader the network simulator uses;
- :mod:`osgp.phy.wav`: WAV input and output.
"""

from __future__ import annotations

from osgp.phy.params import Carrier, frame_airtime_s

__all__ = ["Carrier", "frame_airtime_s"]
