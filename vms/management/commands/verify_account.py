import uuid

from django.core.management.base import BaseCommand, CommandError

from workspaces import services
from workspaces.models import CloudAccount


class Command(BaseCommand):
    help = "Make one cheap read call with a cloud account's credentials and report success or the cloud's reason."

    def add_arguments(self, parser):
        parser.add_argument("account_id", help="the CloudAccount's UUID")

    def handle(self, *args, account_id, **options):
        try:
            account = CloudAccount.objects.select_related("workspace").filter(pk=uuid.UUID(account_id)).first()
        except ValueError:
            account = None
        if account is None:
            raise CommandError(f"No cloud account with id {account_id!r}.")
        reason = services.account_verify(account=account, actor=None, authorize=False)
        if reason:
            raise CommandError(f"{account}: verification failed: {reason}")
        self.stdout.write(self.style.SUCCESS(f"{account}: verified"))
