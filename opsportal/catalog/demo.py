"""Demo catalog services (seed_demo step)."""

from opsportal.catalog.models import Service
from opsportal.catalog.services import service_create
from opsportal.demo import SeedContext, seed_step

DEMO_SERVICES = (
    {"name": "payments-api", "team": "payments", "tier": 0, "description": "Card payments and refunds."},
    {"name": "checkout-web", "team": "storefront", "tier": 1, "description": "Checkout pages and cart."},
    {"name": "notifications", "team": "platform", "tier": 2, "description": "Email, SMS and push fan-out."},
    {"name": "search", "team": "discovery", "tier": 3, "description": "Product search (best effort)."},
)


@seed_step("catalog: demo services", order=100)
def seed_services(ctx: SeedContext) -> None:
    existing = set(Service.objects.filter(name__in=[s["name"] for s in DEMO_SERVICES]).values_list("name", flat=True))
    for fields in DEMO_SERVICES:
        if fields["name"] not in existing:
            service_create(actor=ctx.actor, source=ctx.source, **fields)
            ctx.created(f"service {fields['name']}")
