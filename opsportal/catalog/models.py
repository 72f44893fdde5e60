from django.db import models


class Service(models.Model):
    """A production service that breakers, incidents, SLOs and tokens belong to."""

    class Tier(models.IntegerChoices):
        TIER_0 = 0, "tier 0 (critical)"
        TIER_1 = 1, "tier 1"
        TIER_2 = 2, "tier 2"
        TIER_3 = 3, "tier 3 (best effort)"

    name = models.SlugField(max_length=100, unique=True)
    team = models.CharField(max_length=100, blank=True)
    tier = models.PositiveSmallIntegerField(choices=Tier.choices, default=Tier.TIER_2)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
