"""The outbox writes no audit entries and emits no events of its own (opsportal/common/names.py).

The empty registry says so explicitly: the names check covers this app too, so an event
type added here later must be declared here.
"""

from enum import StrEnum


class Action(StrEnum):
    pass


class Event(StrEnum):
    pass
