"""`?severity=&rule=&state=&principal=` on the findings list (the API and the page share it)."""

from __future__ import annotations

import django_filters
from django.utils import timezone

from core.filters import StrictFilterSet
from posture.models import Finding, FindingState, Severity
from posture.rules import RULES
from posture.selectors import state_filter


class FindingFilter(StrictFilterSet):
    severity = django_filters.ChoiceFilter(choices=Severity.choices)
    rule = django_filters.ChoiceFilter(choices=[(rule.id, rule.title) for rule in RULES])
    state = django_filters.ChoiceFilter(choices=FindingState.choices, method="in_state")
    principal = django_filters.CharFilter(field_name="principal_id", lookup_expr="iexact")

    class Meta:
        model = Finding
        fields = ["severity", "rule", "state", "principal"]

    def in_state(self, queryset, name, value):
        return queryset.filter(state_filter(value, now=timezone.now()))
