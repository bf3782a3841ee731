"""The fault suite (``make chaos``): the real ``ztc run`` under kill -9, restarts, poison and fuzzing.

Every scenario starts its own ``python -m ztc run`` in a fresh data dir on free
ports, drives it from outside (HTTP API, raw Kafka producer, signals), and
counts from what the system recorded in Redis and what reached a loopback
alert webhook. ``python -m tests.chaos`` runs them all and prints one table;
``tests/chaos/test_chaos_short.py`` runs a short case of each kind in pytest.
"""
