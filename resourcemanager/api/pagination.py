"""Pages of every paginated list: ``page`` (1 up) and ``page_size`` (1 to 500, default 50)."""

from __future__ import annotations

from django.core.paginator import Paginator
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    invalid_page_message = "no page {page_number}: {message}"

    def get_page_size(self, request: Request) -> int:
        """The asked ``page_size``, at most ``max_page_size``; one that is not a whole
        number from 1 up is refused by name, never silently replaced by the default."""
        asked = request.query_params.get(self.page_size_query_param)
        if asked is None:
            return self.page_size
        if not asked.isascii() or not asked.isdigit() or int(asked) < 1:
            raise ValidationError(
                {"page_size": [f"a whole number from 1 to {self.max_page_size}"]})
        return min(int(asked), self.max_page_size)

    def get_page_number(self, request: Request, paginator: Paginator) -> int | str:
        """The asked ``page`` (``last``: the last one); one that is not a whole number from
        1 up is refused by name. A page past the last is not found (404)."""
        asked = request.query_params.get(self.page_query_param)
        if asked is None:
            return 1
        if asked in self.last_page_strings:
            return paginator.num_pages
        if not asked.isascii() or not asked.isdigit() or int(asked) < 1:
            raise ValidationError({self.page_query_param: ["a whole number from 1 up"]})
        return asked
