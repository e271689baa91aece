"""`make run`: the embedded runtime in one process.

Cloud sandboxes on loopback ports, demo data (idempotent), the status poller in a thread, and daphne
serving HTTP + WebSocket on 127.0.0.1.
"""
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from vms import demo
from vms.sandbox import start_all


class Command(BaseCommand):
    help = "Serve the dashboard with the local cloud sandboxes, demo data and the in-process status poller."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-poller", action="store_true", help="do not run the status poller in this process")

    def handle(self, *args, host, port, no_poller, **options):
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from skyclust.asgi import application

        sandboxes = start_all(transition_seconds=0.0)
        stop_poller = threading.Event()
        poller = None
        try:
            counts = demo.seed(sandboxes, settings.SKYCLUST_DEMO_PASSWORD)
            sandboxes.set_transition_seconds(settings.SANDBOX_TRANSITION_SECONDS)
            if not no_poller:
                from daphne.server import twisted_loop

                from vms.sync import run_in_thread

                # polls run through daphne's loop, so their events reach the in-memory channel layer thread-safely
                poller = run_in_thread(stop_poller, loop=twisted_loop)
            self._announce(host, port, sandboxes, counts, poller is not None)
            Server(
                application=application,
                endpoints=build_endpoint_description_strings(host=host, port=port),
                signal_handlers=True,
                verbosity=1,
            ).run()
        finally:
            stop_poller.set()
            if poller is not None:
                poller.join(timeout=10)
            sandboxes.stop()

    def _announce(self, host, port, sandboxes, counts, polling) -> None:
        password = settings.SKYCLUST_DEMO_PASSWORD
        lines = [
            "",
            f"SkyClust is serving on http://{host}:{port}/",
            f"  demo logins (password {password!r}): alice (owner of Platform), bob (viewer in Platform, owner of Data), carol (operator in Platform)",
            f"  admin: http://{host}:{port}/admin/ (create a superuser with `.venv/bin/python manage.py createsuperuser`)",
            f"  demo VMs: {counts['created']} created, {counts['restored']} restored in the sandboxes",
            f"  status poller: {'running in this process' if polling else 'off'}",
        ]
        lines += [f"  {provider} sandbox: {emulator.url}  (faults: POST {emulator.url}/_sandbox/faults)" for provider, emulator in sandboxes.all().items()]
        self.stdout.write("\n".join(lines) + "\n", style_func=None)
