"""Offset pagination of SQL queries, paired with flask-smorest's ``@blp.paginate()``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select

from wallet.extensions import db

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


def paged(page: Page[T], pagination_parameters: Any) -> list[T]:
    """Hand a page to ``@blp.paginate()``: the items, with the total for the X-Pagination header."""
    pagination_parameters.item_count = page.total
    return page.items
