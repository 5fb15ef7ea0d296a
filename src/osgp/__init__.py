"""osgp: an open implementation of the Open Smart Grid Protocol system.

Packages, bottom up (see docs/architecture.md):

- ``osgp.clock``     the one injected time source
- ``osgp.phy``       BPSK narrow-band power-line modem (ETSI TS 103 908 style)
- ``osgp.lon``       ISO/IEC 14908-1 stack (frames, transactions, MAC) and CN/IP (14908-4)
- ``osgp.security``  digest, RC4, AES-128 shared by every layer
- ``osgp.app``       OSGP application layer: C12.19-style tables, services, framings
- ``osgp.devices``   simulated meters and non-meter devices
- ``osgp.plc``       the simulated power line: channel model and discrete-event engine
- ``osgp.dc``        the data concentrator
- ``osgp.headend``   the utility head-end
"""

__version__ = "0.1.0"
