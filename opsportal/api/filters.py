"""Filtering applies to collections only.

DRF runs filter backends inside ``get_object()`` too, so django-filter built a
FilterSet for every detail request (a sixth of an authenticated GET's cost).
Our filters narrow lists; access control lives in permissions and querysets,
so detail routes skip them.
"""

from django_filters.rest_framework import DjangoFilterBackend


class ListFilterBackend(DjangoFilterBackend):
    def filter_queryset(self, request, queryset, view):
        if getattr(view, "detail", False):
            return queryset
        return super().filter_queryset(request, queryset, view)
