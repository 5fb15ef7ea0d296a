"""The head-end: the utility data center's side of OSGP.

It stores what concentrators collect (:mod:`osgp.headend.db`, :mod:`osgp.headend.ingest`), talks to
concentrators over an authenticated IP link (:mod:`osgp.headend.link`), publishes to MQTT
(:mod:`osgp.headend.mqtt`) and serves a REST API (:mod:`osgp.headend.api`);
:mod:`osgp.headend.service` assembles them.
"""
