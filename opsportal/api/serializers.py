"""Serializer base classes for the API."""

from __future__ import annotations

import copy

from rest_framework import serializers


class ModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer that introspects its model once per class, not per instance.

    DRF rebuilds every field from model metadata each time a serializer is
    created (a fifth of a detail GET). Field construction depends only on the
    class and its Meta, so the built fields are kept as never-bound prototypes
    and each instance gets copies. A plain field is copied shallowly: binding
    only sets attributes on the copy, and the state it shares with the
    prototype (validators, error messages, choices) is never mutated after
    construction. DRF's own deep copy re-runs every constructor and cost
    ~0.25 ms per detail GET (bench/api_overhead). Fields that bind other
    fields (nested serializers, ``child``, ``child_relation``) are deep-copied,
    so no bound state is ever shared between requests. Subclasses whose fields
    depend on the request must override ``get_fields`` themselves.
    """

    def get_fields(self):
        cls = type(self)
        prototypes = cls.__dict__.get("_opsportal_field_prototypes")
        if prototypes is None:
            prototypes = super().get_fields()
            cls._opsportal_field_prototypes = prototypes
        return {name: _clone(field) for name, field in prototypes.items()}


def _clone(field):
    if isinstance(field, serializers.BaseSerializer) or hasattr(field, "child") or hasattr(field, "child_relation"):
        return copy.deepcopy(field)
    return copy.copy(field)
