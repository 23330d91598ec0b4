from django.conf import settings
from django.core.management.base import BaseCommand

from portal.demo import seed_demo


class Command(BaseCommand):
    help = "Create or refresh the demo teams and users (idempotent)."

    def handle(self, *args, **options):
        users = seed_demo(password=settings.DEMO_PASSWORD)
        for user in users:
            roles = ", ".join(sorted(user.roles)) or "-"
            self.stdout.write(f"  {user.username:<6} {roles}")
        self.stdout.write(self.style.SUCCESS(f"Seeded {len(users)} demo users."))
