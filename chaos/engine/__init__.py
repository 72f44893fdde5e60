"""The chaos controller: runs a claimed slot, guards it, sweeps what dead runners left.

Documented exception to "only services write" (docs/decisions.md, "Chaos engine"): the engine
appends journal rows and stamps the run's heartbeat itself (bookkeeping of a running drill, no
audit entry; each journal row still emits an outbox event so /ops/chaos/ streams it). Every
state change (start, fault applied, abort, halt, verdict) goes through chaos.services.
"""
