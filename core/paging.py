"""Page numbers that stay cheap deep into a long list whose rows carry per-row subqueries."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from rest_framework.pagination import PageNumberPagination


class KeysFirstPaginator(Paginator):
    """Pages a queryset in two steps: the page's primary keys (the bare rows in order, LIMIT
    and OFFSET: an index scan), then those rows with their joins and annotations. PostgreSQL
    computes the select list also for the rows OFFSET skips, so on page 4,000 a per-row
    subquery would run 100,000 times; here it runs for the rows shown."""

    def page(self, number) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        keys = self.object_list.values("pk")[bottom:top]
        return self._get_page(self.object_list.filter(pk__in=keys), number, self)


class KeysFirstPagination(PageNumberPagination):
    """The API's page numbers (`?page=`, PAGE_SIZE) through `KeysFirstPaginator`."""

    django_paginator_class = KeysFirstPaginator
