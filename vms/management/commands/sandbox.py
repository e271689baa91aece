"""`python manage.py sandbox`: the three cloud emulators in the foreground, for trying adapters by hand."""
import json
import signal
import threading

from django.core.management.base import BaseCommand

from vms.sandbox import start_all


class Command(BaseCommand):
    help = "Run the AWS (moto), GCP and Azure emulators on loopback ports until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--aws-port", type=int, default=0)
        parser.add_argument("--gcp-port", type=int, default=0)
        parser.add_argument("--azure-port", type=int, default=0)
        parser.add_argument("--transition-seconds", type=float, default=3.0, help="time an instance spends in each transitional state")

    def handle(self, *args, aws_port, gcp_port, azure_port, transition_seconds, **options):
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        with start_all(transition_seconds=transition_seconds, ports={"aws": aws_port, "gcp": gcp_port, "azure": azure_port}) as sandboxes:
            for provider, emulator in sandboxes.all().items():
                config = emulator.account_config(f"{provider}-sandbox")
                self.stdout.write(f"{provider}: {emulator.url}")
                self.stdout.write(f"  account settings: {json.dumps(config.settings)}")
                self.stdout.write(f"  faults: curl -X POST {emulator.url}/_sandbox/faults -d '{{\"throttle_next\": 2}}'")
            self.stdout.write("Press Ctrl-C to stop.")
            stop.wait()
        self.stdout.write("sandboxes stopped")
