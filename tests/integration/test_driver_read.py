"""``reads.DriverRead`` reads on PostgreSQL, straight on psycopg, exactly what ``reads.read`` reads."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY

from wallet.core import reads
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.geo.models import LastFix

_LAST_FIX = select(LastFix.shopper_id, LastFix.lat, LastFix.lon, LastFix.recorded_at).where(
    LastFix.shopper_id == bindparam("shopper_id"))


def _store(shopper_id, at: dt.datetime) -> None:
    with transaction() as session:
        session.add(LastFix(shopper_id=shopper_id, lat=48.8566, lon=2.3522, recorded_at=at))


def test_a_row_reads_as_through_sqlalchemy_with_its_types_processed(app, make_shopper):
    shopper = make_shopper()
    # Stored in UTC, read back in the connection's time zone by psycopg: the column type makes it UTC again.
    _store(shopper.id, dt.datetime(2026, 11, 22, 9, 30, 15, 123456, tzinfo=dt.UTC))
    db.session.execute(sa.text("SET TIME ZONE 'Pacific/Auckland'"))  # this session's connection only
    db.session.commit()
    driver = reads.DriverRead(_LAST_FIX)
    for _ in range(7):  # psycopg prepares a statement after its fifth run: same answer before and after
        row = driver.one_or_none({"shopper_id": shopper.id})
        assert row == tuple(reads.read(_LAST_FIX, {"shopper_id": shopper.id}).one())
    assert row[0] == shopper.id and row[3].tzinfo is dt.UTC
    assert driver.one_or_none({"shopper_id": make_shopper().id}) is None


def test_the_engine_sees_the_statement(app, make_shopper):
    shopper_id = make_shopper().id
    seen: list[str] = []
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    sa.event.listen(db.engine, "before_cursor_execute", listener)
    try:
        reads.DriverRead(_LAST_FIX).one_or_none({"shopper_id": shopper_id})
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listener)
    assert len(seen) == 1 and seen[0].startswith("SELECT last_fixes.shopper_id")


def test_inside_a_transaction_it_reads_the_transactions_own_writes(app, make_shopper):
    shopper = make_shopper()
    at = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
    db.session.add(LastFix(shopper_id=shopper.id, lat=1.0, lon=2.0, recorded_at=at))
    db.session.flush()  # written in the session's open transaction, not committed
    assert reads.DriverRead(_LAST_FIX).one_or_none({"shopper_id": shopper.id}) == (shopper.id, 1.0, 2.0, at)
    db.session.rollback()
    assert reads.DriverRead(_LAST_FIX).one_or_none({"shopper_id": shopper.id}) is None


def test_more_than_one_row_is_an_error(app, make_shopper):
    everyone = reads.DriverRead(select(LastFix.shopper_id))
    for _ in range(2):
        _store(make_shopper().id, dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC))
    with pytest.raises(ValueError, match="more than one row"):
        everyone.one_or_none({})


def test_a_connection_the_server_cut_is_not_given_back_to_the_pool(app, make_shopper):
    shopper_id = make_shopper().id
    db.session.rollback()  # nothing open: the read runs on the request's autocommit connection
    driver = reads.DriverRead(_LAST_FIX)
    connection = reads._connection()
    pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    killer = sa.create_engine(app.config["DATABASE_URL"])
    with killer.connect() as other:
        other.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})  # waits for it to exit
    killer.dispose()
    with pytest.raises(Exception):  # noqa: B017 - whatever psycopg raises for a lost server
        driver.one_or_none({"shopper_id": shopper_id})
    assert connection.invalidated
    reads._release()
    assert driver.one_or_none({"shopper_id": shopper_id}) is None  # a fresh connection, no error


def _last_fix_insert(dialect: str):
    from wallet.core.upsert import insert_for

    return insert_for(dialect)(LastFix.__table__).values(
        shopper_id=bindparam("shopper_id"), lat=bindparam("lat"), lon=bindparam("lon"),
        recorded_at=bindparam("recorded_at"))


def test_a_write_runs_once_per_parameter_set_in_the_transaction_of_the_connection_given(app, make_shopper):
    shoppers = [make_shopper().id for _ in range(3)]
    db.session.commit()
    at = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
    write = reads.DriverStatement(_last_fix_insert)  # built for the dialect it first runs on
    rows = [{"shopper_id": s, "lat": 48.0 + k, "lon": 2.0, "recorded_at": at} for k, s in enumerate(shoppers)]
    write.run(db.session.connection(), rows)
    stored = reads.DriverStatement(select(LastFix.shopper_id, LastFix.lat, LastFix.recorded_at)
                                   .where(LastFix.shopper_id == sa.any_(bindparam("ids", type_=ARRAY(sa.Uuid))))
                                   .order_by(LastFix.lat))
    assert stored.rows(db.session.connection(), {"ids": shoppers}) == [(s, 48.0 + k, at)
                                                                        for k, s in enumerate(shoppers)]
    db.session.rollback()  # the writes were the transaction's: gone with it
    assert reads.read(select(LastFix.shopper_id).where(LastFix.shopper_id.in_(shoppers))).all() == []
    write.run(db.session.connection(), rows[0])
    db.session.commit()
    assert reads.read(select(LastFix.lat).where(LastFix.shopper_id == shoppers[0])).scalar_one() == 48.0


def test_an_in_list_is_refused_with_the_way_to_write_it(app):
    with pytest.raises(ValueError, match="ANY"):
        reads.DriverStatement(select(LastFix.lat).where(LastFix.shopper_id.in_(bindparam("ids", expanding=True)))
                              ).rows(db.session.connection(), {"ids": []})
