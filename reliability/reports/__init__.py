"""The reliability report: per service SLOs, incidents (MTTA/MTTR), DLQ, breaker trips, chaos drills.

Read live from the owning apps by ``selectors.reliability_report``; a weekly beat job stores
a ``ReliabilitySnapshot`` of the past ISO week (docs/reports.md).
"""
