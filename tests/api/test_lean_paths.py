"""The cheap paths kept by bench/api_overhead stay correct."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from audit.actors import Actor
from opsportal.catalog.api import ServiceSerializer
from opsportal.catalog.services import service_create

pytestmark = pytest.mark.django_db


def test_detail_routes_ignore_list_filters_but_lists_apply_them(token_client):
    service = service_create(name="payments", team="pay", actor=Actor.for_system("test"), source="test")
    client = token_client("read")
    assert client.get(f"/api/v1/services/{service.pk}/?team=nobody").status_code == 200
    assert client.get("/api/v1/services/?team=nobody").json()["results"] == []
    assert [s["name"] for s in client.get("/api/v1/services/?team=pay").json()["results"]] == ["payments"]


def test_invalid_list_filter_is_still_a_400(token_client):
    assert token_client("read").get("/api/v1/services/?tier=high").status_code == 400


def test_cached_serializer_fields_are_not_shared_between_instances():
    first, second = ServiceSerializer(), ServiceSerializer()
    assert list(first.fields) == list(second.fields) == ["id", "name", "team", "tier", "description", "created_at", "updated_at"]
    assert first.fields["name"] is not second.fields["name"]
    assert first.fields["name"].parent is first and second.fields["name"].parent is second
    assert first.fields["id"].read_only and not first.fields["name"].read_only


def test_cached_fields_that_bind_other_fields_are_copied_deeply():
    from rest_framework import serializers

    from opsportal.api.serializers import ModelSerializer
    from opsportal.catalog.models import Service

    class WithChildren(ModelSerializer):
        tags = serializers.ListField(child=serializers.CharField(), required=False)

        class Meta:
            model = Service
            fields = ["id", "name", "tags"]

    first, second = WithChildren(), WithChildren()
    a, b = first.fields["tags"], second.fields["tags"]
    assert a is not b and a.child is not b.child
    assert a.child.parent is a and b.child.parent is b
    assert WithChildren(data={"name": "svc", "tags": ["x", 1]}).is_valid()
    bad = WithChildren(data={"name": "svc", "tags": "not a list"})
    assert not bad.is_valid() and set(bad.errors) == {"tags"}


def test_cached_serializer_still_validates_per_instance():
    bad = ServiceSerializer(data={"name": "not a slug!", "tier": 9})
    good = ServiceSerializer(data={"name": "billing", "tier": 1})
    assert not bad.is_valid() and set(bad.errors) == {"name", "tier"}
    assert good.is_valid(), good.errors


@pytest.mark.parametrize("enabled", [True, False])
def test_access_log_middleware_can_be_switched_off(enabled, caplog):
    with override_settings(ACCESS_LOG=enabled), caplog.at_level("INFO", logger="opsportal.access"):
        APIClient().get("/api/v1/services/")
    lines = [r for r in caplog.records if r.name == "opsportal.access"]
    assert bool(lines) is enabled
