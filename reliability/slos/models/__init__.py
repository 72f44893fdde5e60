"""Tables of the SLO app (see each module)."""

from reliability.slos.models.data import BudgetCorrection, SLIBucket, SLIHour
from reliability.slos.models.slo import SLO, BurnAlertPolicy, BurnTier, SLOStatus

__all__ = ["SLO", "BudgetCorrection", "BurnAlertPolicy", "BurnTier", "SLIBucket", "SLIHour", "SLOStatus"]
