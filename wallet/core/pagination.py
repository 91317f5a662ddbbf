"""Offset pagination of SQL queries, paired with flask-smorest's ``@blp.paginate()``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from marshmallow import ValidationError
from sqlalchemy import Select, func, select

from wallet.extensions import db

# Row offsets are signed 64-bit integers in PostgreSQL and SQLite alike: the last row a page asks
# for must be within them, or the database refuses the query (a 422 here instead).
MAX_ROW = 2**63 - 1

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int


def paginate(query: Select[Any], *, page: int, page_size: int) -> Page[Any]:
    """One page of ``query`` (which must be ordered) and the total count of its rows."""
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    items = list(db.session.scalars(query.limit(page_size).offset((page - 1) * page_size)))
    return Page(items=items, total=total)


def check_page_bounds(parameters: Any) -> None:
    """Refuse ``page`` × ``page_size`` beyond ``MAX_ROW`` (a webargs validator of the pagination arguments)."""
    if parameters.page * parameters.page_size > MAX_ROW:
        raise ValidationError({"page": [f"Too far: page × page_size must not exceed {MAX_ROW}."]})


def paged(page: Page[T], pagination_parameters: Any) -> list[T]:
    """Hand a page to ``@blp.paginate()``: the items, with the total for the X-Pagination header."""
    pagination_parameters.item_count = page.total
    return page.items
