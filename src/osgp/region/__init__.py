"""A city: many PLC segments (one per MV/LV transformer) simulated in parallel on Dask, their
meter data streamed into the head-end store as segments finish.

- :mod:`osgp.region.prepare`: the region's segments and meters, built once on the client;
- :mod:`osgp.region.segment`: one segment's simulation, a pure function of its job (a Dask task);
- :mod:`osgp.region.store`: what a segment produced, into the head-end database;
- :mod:`osgp.region.run`: serial or on Dask (a local cluster, or a scheduler address).
"""

from osgp.region.prepare import Region, SegmentJob, prepare_region
from osgp.region.run import RegionReport, run_region
from osgp.region.segment import SegmentResult, run_segment

__all__ = [
    "Region",
    "RegionReport",
    "SegmentJob",
    "SegmentResult",
    "prepare_region",
    "run_region",
    "run_segment",
]
