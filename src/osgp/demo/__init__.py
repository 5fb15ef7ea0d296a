"""``osgp demo``: the main job (a head-end, concentrators and a simulated area, end to end).

:mod:`osgp.demo.area` wires the device, power-line and concentrator models (the one module to
change when their APIs move); :mod:`osgp.demo.runner` tells the story and serves the web UI.
"""

from osgp.demo.runner import OPERATOR_KEY, READ_KEY, DemoConfig, DemoSummary, run_demo

__all__ = ["OPERATOR_KEY", "READ_KEY", "DemoConfig", "DemoSummary", "run_demo"]
