"""The health app's models. Degradation and slow-query tables live in their own packages."""

from reliability.health.degradation.models import DegradationOverride, DegradationTransition
from reliability.health.slowqueries.models import SlowQuery

__all__ = ["DegradationOverride", "DegradationTransition", "SlowQuery"]
