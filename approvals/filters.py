import django_filters

from approvals.models import ChangeRequest, Operation, State


class ChangeRequestFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=State.choices)
    team = django_filters.CharFilter(field_name="team__slug", help_text="Team slug.")
    operation = django_filters.ChoiceFilter(choices=Operation.choices)
    key = django_filters.CharFilter(field_name="key_name")
    mine = django_filters.BooleanFilter(method="filter_mine", help_text="Only my requests.")

    class Meta:
        model = ChangeRequest
        fields = ["state", "team", "operation", "key", "mine"]

    def filter_mine(self, queryset, name, value):
        mine = {"requester": self.request.user}
        return queryset.filter(**mine) if value else queryset.exclude(**mine)
