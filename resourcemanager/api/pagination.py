"""Pages of every list: ``page`` and ``page_size`` (1 to 500, default 50)."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

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
