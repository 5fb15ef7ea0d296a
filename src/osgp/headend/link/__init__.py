"""The concentrator-to-head-end link over TCP: protocol core, head-end server, concentrator client.

The concentrator only needs :class:`HeadendLink` and a store (:class:`SqliteLinkStore` or its own
implementation of :class:`LinkStore`); see ``docs/headend-link.md``.
"""

from osgp.headend.link.client import HeadendLink, LinkStore, MemoryLinkStore, SqliteLinkStore
from osgp.headend.link.protocol import LinkError
from osgp.headend.link.server import DEFAULT_LINK_PORT, LinkServer

__all__ = [
    "DEFAULT_LINK_PORT",
    "HeadendLink",
    "LinkError",
    "LinkServer",
    "LinkStore",
    "MemoryLinkStore",
    "SqliteLinkStore",
]
