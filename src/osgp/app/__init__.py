"""OSGP application layer: tables (C12.19-style schemas), store, services, security, framing."""
