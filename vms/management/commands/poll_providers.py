"""`python manage.py poll_providers`: keep VM statuses true to their clouds (see vms/sync.py).

Run one per host or several: they share the sync targets through row leases. `--once` polls the due targets
once and exits (`--all` polls every target, due or not); otherwise it runs until SIGTERM or SIGINT, finishing
the targets it is polling and giving back the leases of the others.
"""
import signal
import threading

from django.core.management.base import BaseCommand

from vms.sync import Poller


class Command(BaseCommand):
    help = "Poll the clouds with one batched list per sync target (account x region) and record status changes."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run one cycle over the due targets and exit.")
        parser.add_argument("--all", action="store_true", dest="all_targets", help="With --once: poll every target, due or not.")
        parser.add_argument("--max-targets", type=int, default=None, help="Lease at most this many targets per cycle.")
        parser.add_argument("--workers", type=int, default=4, help="Targets polled at the same time (default 4).")

    def handle(self, *args, once=False, all_targets=False, max_targets=None, workers=4, **options):
        if max_targets is not None and max_targets < 1:
            self.stderr.write("--max-targets must be at least 1.")
            raise SystemExit(2)
        poller = Poller(max_targets=max_targets, workers=workers)
        if once:
            try:
                report = poller.run_once(all_targets=all_targets)
            finally:
                poller.close()
            for target in report.failed:
                self.stderr.write(f"{target.target}: {target.error}")
            self.stdout.write(report.summary())
            return

        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: stop.set())
        self.stdout.write(f"poll_providers {poller.owner}: polling until SIGTERM or SIGINT")
        poller.run_forever(stop)
        self.stdout.write("poll_providers stopped")
