from django.core.management.base import BaseCommand, CommandError

from opsportal.serve import ServeError, serve


class Command(BaseCommand):
    help = (
        "Run the whole portal in one process: uvicorn (HTTP + websockets), a Celery worker and beat. "
        "The embedded default of `make run` (DESIGN §5); Ctrl-C or SIGTERM stops it."
    )
    requires_migrations_checks = True

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
        parser.add_argument("--concurrency", type=int, default=2, help="worker threads (default 2)")

    def handle(self, *args, host, port, concurrency, **options):
        if not 0 < port < 65536:
            raise CommandError("--port must be between 1 and 65535")
        if concurrency < 1:
            raise CommandError("--concurrency must be at least 1")
        try:
            code = serve(host=host, port=port, concurrency=concurrency, out=self.stdout)
        except ServeError as exc:
            raise CommandError(str(exc)) from exc
        if code:
            raise CommandError(f"stopped with exit code {code}", returncode=code)
