"""``manage.py chaos_halt [--reason …]``: engage the kill switch and stop every running drill."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from audit.actors import Actor
from chaos.services import kill_switch_engage


class Command(BaseCommand):
    help = "Engage the chaos kill switch: halt running drills, clear every injected fault, refuse new starts."

    def add_arguments(self, parser):
        parser.add_argument("--reason", default="", help="why (kept on the kill switch and in the audit trail)")

    def handle(self, *args, reason: str = "", **options):
        switch = kill_switch_engage(reason=reason or "chaos_halt", actor=Actor.for_system("cli:chaos_halt"), source="cli")
        halted = getattr(switch, "halted_runs", [])
        self.stdout.write(f"kill switch engaged (#{switch.pk}); halted runs: {', '.join(map(str, halted)) or 'none'}")
        self.stdout.write("release it in /ops/chaos/, the admin or DELETE /api/v1/chaos/kill-switch/")
