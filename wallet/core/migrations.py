"""What Alembic compares and renders: our tables only, with GeoAlchemy2's helpers for geometry."""

from collections.abc import Callable
from typing import Any

from geoalchemy2 import alembic_helpers

# PostGIS brings its own tables; they are not ours to migrate.
FOREIGN_TABLES = frozenset({"spatial_ref_sys", "alembic_version"})

render_item = alembic_helpers.render_item
writer = alembic_helpers.writer


def include_object_for(dialect_name: str) -> Callable[..., bool]:
    """The filter for one backend: it also skips indexes declared for other backends only
    (``Index(...).ddl_if(dialect="postgresql")``, e.g. GiST indexes), which Alembic does not."""

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table" and name in FOREIGN_TABLES:
            return False
        ddl_if = getattr(obj, "_ddl_if", None)
        if type_ == "index" and ddl_if is not None and ddl_if.dialect and ddl_if.dialect != dialect_name:
            return False
        return bool(alembic_helpers.include_object(obj, name, type_, reflected, compare_to))

    return include_object
