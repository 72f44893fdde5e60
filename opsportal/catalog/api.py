from django_filters import rest_framework as filters
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from audit.actors import Actor
from opsportal.api.serializers import ModelSerializer
from opsportal.catalog.models import Service
from opsportal.catalog.selectors import service_list
from opsportal.catalog.services import service_create, service_delete, service_update


class ServiceSerializer(ModelSerializer):
    class Meta:
        model = Service
        fields = ["id", "name", "team", "tier", "description", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        # Uniqueness is checked by the service (race-safe), not by a pre-query here.
        extra_kwargs = {"name": {"validators": []}}


class ServiceFilter(filters.FilterSet):
    class Meta:
        model = Service
        fields = {"team": ["exact"], "tier": ["exact", "lte"], "name": ["exact", "icontains"]}


class ServiceViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
    mixins.UpdateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet,
):
    """The service catalog: what breakers, incidents, SLOs and tokens belong to."""

    serializer_class = ServiceSerializer
    filterset_class = ServiceFilter
    lookup_value_regex = r"\d+"
    token_scopes = {"read": "read", "write": "catalog:write"}

    def get_queryset(self):
        return service_list()

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        service = service_create(actor=Actor.from_request(request), source="api", **serializer.validated_data)
        return Response(ServiceSerializer(service).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        service = service_update(service_id=instance.pk, actor=Actor.from_request(request), source="api", **serializer.validated_data)
        return Response(ServiceSerializer(service).data)

    def destroy(self, request, *args, **kwargs):
        instance = self.get_object()
        service_delete(service_id=instance.pk, actor=Actor.from_request(request), source="api")
        return Response(status=status.HTTP_204_NO_CONTENT)
