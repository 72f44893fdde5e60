"""A person's paging contact: the phone number an SMS channel texts when it pages that user.

The number is personal data. It is stored on ``UserContact`` and read only by
the SMS sender; the audit entry, the outbox event and every log line carry the
masked form (``mask_phone``: the last two digits), never the number.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from audit.actors import Actor
from audit.services import audit_record
from opsportal.events.services import emit
from reliability.incidents.models import UserContact, mask_phone
from reliability.incidents.models.escalation import PHONE_VALIDATOR
from reliability.incidents.names import Action, Event


def normalise_phone(value: str) -> str:
    """``+46 70-123 45 67`` → ``+46701234567``; raises ``ValidationError`` unless E.164."""
    number = "".join(ch for ch in str(value or "") if ch not in " -().\u00a0")
    if number:
        PHONE_VALIDATOR(number)
    return number


@transaction.atomic
def user_contact_set(*, user, phone_number: str, actor: Actor, source: str) -> UserContact:
    """Set (or clear, with ``""``) ``user``'s phone number for SMS pages."""
    try:
        number = normalise_phone(phone_number)
    except ValidationError as exc:
        raise ValidationError({"phone_number": exc.messages}) from exc
    contact, created = UserContact.objects.select_for_update().get_or_create(user=user)
    before = "" if created else contact.phone_number
    if not created and before == number:
        return contact
    contact.phone_number = number
    contact.save(update_fields=["phone_number", "updated_at"])
    audit_record(actor=actor, action=Action.CONTACT_SET, target=contact, source=source,
                 changes={"phone_number": [mask_phone(before) or None, mask_phone(number) or None]})
    emit(Event.CONTACT_CHANGED, contact, {"user": user.get_username(), "phone": mask_phone(number) or None})
    return contact
