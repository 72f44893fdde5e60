from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from opsportal.demo import SeedContext, seed_steps


class Command(BaseCommand):
    help = (
        "Load demo data (users per role with printed passwords, catalog services, a token). "
        "Idempotent; refuses to run when OPSPORTAL_ENV=production."
    )

    def handle(self, *args, **options):
        if settings.OPSPORTAL_ENV == "production":
            raise CommandError(
                "seed_demo refuses to run when OPSPORTAL_ENV=production: it creates users with published passwords"
            )
        ctx = SeedContext()
        for step in seed_steps():
            before = len(ctx.created_items)
            step.run(ctx)
            made = ctx.created_items[before:]
            self.stdout.write(f"seed_demo: {step.name}: " + (", ".join(made) if made else "already there"))
        for note in ctx.notes:
            self.stdout.write(note)
        if ctx.logins:
            self.stdout.write("")
            self.stdout.write("Demo logins (sign in at /admin/; the live dashboard is /ops/):")
            for username, password, role in ctx.logins:
                self.stdout.write(f"  {username:<16} password {password:<22} {role}")
