"""The probe engine: run a cycle (``probes.probe_cycle``), record it (``services.health_results_record``).

It writes nothing itself; it is a package only so the room reads the same as other apps' engines.
"""

from reliability.health.engine.cycle import probe_cycle_record

__all__ = ["probe_cycle_record"]
