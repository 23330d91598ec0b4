"""Query filters of the request list, shared by the API and the requests page: each filter's
label and help text serve both."""

import django_filters

from approvals.models import ChangeRequest, Operation, State
from core.filters import StrictFilterSet


class ChangeRequestFilter(StrictFilterSet):
    state = django_filters.MultipleChoiceFilter(
        choices=State.choices,
        label="State",
        help_text="Choose one or several.",
        distinct=False,  # a column of the request itself: no join to de-duplicate
    )
    team = django_filters.CharFilter(field_name="team__slug", label="Team", help_text="Team slug.")
    operation = django_filters.ChoiceFilter(choices=Operation.choices, label="Operation")
    key = django_filters.CharFilter(field_name="key_name", label="Key name")
    mine = django_filters.BooleanFilter(
        method="filter_mine",
        label="Mine",
        help_text="Yes: only my requests; No: everyone else's.",
    )

    class Meta:
        model = ChangeRequest
        fields = ["state", "team", "operation", "key", "mine"]

    def filter_mine(self, queryset, name, value):
        mine = {"requester": self.request.user}
        return queryset.filter(**mine) if value else queryset.exclude(**mine)
