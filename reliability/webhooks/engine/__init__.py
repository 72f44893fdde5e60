"""The delivery engine (DESIGN §7.2): the documented exception to "only services write".

Rooms, lower first: ``policy`` (knobs, retry plan) → ``jobs`` (Job, Outcome,
RunStats) → ``claim`` (take due rows, leases) → ``send`` (signed HTTP on a
pool, no database) → ``record`` (write outcomes; dead letters and the 410
disable go through the services) → ``run`` (the entry points below). The
engine writes only ``Delivery`` and ``DeliveryAttempt`` rows itself; the
schedule lives in the database (docs/decisions.md, "Webhooks: rooms").
"""

from reliability.webhooks.engine.claim import deliveries_reclaim_expired
from reliability.webhooks.engine.jobs import RunStats
from reliability.webhooks.engine.run import deliveries_attempt, deliveries_sweep, delivery_attempt

__all__ = ["RunStats", "deliveries_attempt", "deliveries_reclaim_expired", "deliveries_sweep", "delivery_attempt"]
