"""Fault injection against the simulation's ground truth (issue 10, item 2).

* :mod:`osgp.faults.ledger`: what the simulated meters should have produced, compared with what
  the head-end stored (expected, stored, lost, duplicated) and the fault table printer;
* :mod:`osgp.faults.services`: private infrastructure a fault may break: a PostgreSQL cluster and
  a mosquitto broker of our own, a TCP proxy that cuts the concentrator link, an asyncio loop in a
  thread;
* :mod:`osgp.faults.scenarios`: one function per fault, each returning a table row;
  ``python -m osgp.faults`` runs them all and prints the table.
"""
