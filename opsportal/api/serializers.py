"""Serializer base classes for the API."""

from __future__ import annotations

import copy

from rest_framework import serializers


class ModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer that introspects its model once per class, not per instance.

    DRF rebuilds every field from model metadata each time a serializer is
    created (a fifth of a detail GET). Field construction depends only on the
    class and its Meta, so the built fields are kept and deep-copied (DRF fields
    copy by re-running their constructor with the same arguments). Subclasses
    whose fields depend on the request must override ``get_fields`` themselves.
    """

    def get_fields(self):
        cls = type(self)
        prototypes = cls.__dict__.get("_opsportal_field_prototypes")
        if prototypes is None:
            prototypes = super().get_fields()
            cls._opsportal_field_prototypes = prototypes
        return copy.deepcopy(prototypes)
