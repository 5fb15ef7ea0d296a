"""OSGP application layer: tables, store, services, procedures, server, client, framing, io."""
