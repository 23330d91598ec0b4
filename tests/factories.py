"""factory_boy factories for the portal's own models."""

import factory

from accounts.models import Membership, RoleGrant, Team, User


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"team{n}")
    name = factory.LazyAttribute(lambda team: team.slug.title())
    key_prefix = factory.LazyAttribute(lambda team: f"{team.slug[:20]}-")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("correct-horse-battery")

    @factory.post_generation
    def access(self, create, extracted, **kwargs):
        """`UserFactory(access={"teams": [team], "roles": ["custodian"]})`: rows written
        directly, like every factory's, so fixtures leave the audit trail empty for the test
        (accounts.services.set_user_access, which audits, has tests of its own)."""
        if create and extracted:
            for team in extracted.get("teams", ()):
                Membership.objects.create(user=self, team=team)
            for role in extracted.get("roles", ()):
                RoleGrant.objects.create(user=self, role=role)
            self.__dict__.pop("roles", None)


class ManagedKeyFactory(factory.django.DjangoModelFactory):
    """An inventory row as a sync would leave it (managed by Keywarden unless told)."""

    class Meta:
        model = "keys.ManagedKey"

    name = factory.Sequence(lambda n: f"pay-key-{n}")
    kty = "EC-HSM"
    curve = "P-256"
    key_ops = factory.LazyFunction(lambda: ["sign", "verify"])
    current_version = factory.Sequence(lambda n: f"{n:032x}")
    version_count = 1
    state = "active"
    last_applied = factory.LazyFunction(dict)
