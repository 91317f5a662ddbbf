"""How a request's session ends on PostgreSQL (``wallet.core.transaction.end_reads``): reads are
committed, so that psycopg keeps the statements it prepared on the connection (it deallocates them
all on a rollback); anything that may have written outside ``transaction()`` is rolled back, as
before, and the tests' check catches a write the session could not see."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.exc import OperationalError

from wallet.brands.models import Brand
from wallet.core.transaction import end_reads
from wallet.extensions import db

pytestmark = pytest.mark.postgis


@pytest.fixture
def ends(app):
    """How each transaction on the engine ended: "commit" or "rollback", in order."""
    seen: list[str] = []

    def committed(_: Any) -> None:
        seen.append("commit")

    def rolled_back(_: Any) -> None:
        seen.append("rollback")

    event.listen(db.engine, "commit", committed)
    event.listen(db.engine, "rollback", rolled_back)
    yield seen
    event.remove(db.engine, "commit", committed)
    event.remove(db.engine, "rollback", rolled_back)


def _brand_name(brand_id: uuid.UUID) -> str | None:
    with db.engine.connect() as connection:  # another connection: what is committed
        return connection.execute(select(Brand.name).where(Brand.id == brand_id)).scalar()


def test_a_request_that_only_read_ends_with_commit(app, make_shopper, login, ends):
    shopper = make_shopper()
    headers = login(shopper)
    answers: list[int] = []

    def request() -> None:  # a thread of its own: its own app context, torn down as in production
        answers.append(app.test_client().get("/v1/me/coupons", headers=headers).status_code)

    ends.clear()
    thread = threading.Thread(target=request)
    thread.start()
    thread.join(timeout=30)
    assert answers == [200]
    assert "rollback" not in ends and ends.count("commit") >= 1


def test_psycopg_forgets_its_prepared_statements_on_a_rollback_not_on_a_commit(app):
    """Why reads end with a commit: psycopg prepares a statement after a few runs on a connection,
    and deallocates all of them when the connection rolls back."""
    with db.engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)

        def prepared() -> int:
            return int(driver.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0])

        for _ in range(6):
            driver.execute("SELECT %s::int + 1", (1,))
        assert prepared() >= 1
        driver.commit()
        assert prepared() >= 1
        driver.rollback()  # the transaction the count opened: nothing to undo, all forgotten
        assert prepared() == 0
        driver.rollback()


def test_reads_are_committed_and_the_session_is_done(app, make_brand, ends):
    brand = make_brand("Reads")
    db.session.execute(select(Brand).where(Brand.id == brand.id)).scalar_one()
    assert db.session().in_transaction()
    ends.clear()
    end_reads()
    assert ends == ["commit"] and not db.session().in_transaction()


@pytest.mark.parametrize("how", ["flush", "dirty", "core_update", "text", "failed_request"])
def test_a_session_that_may_have_written_is_not_committed(app, make_brand, ends, how):
    brand = make_brand("Before")
    db.session.expire_all()
    if how == "flush":
        db.session.add(Brand(name="Flushed", name_key=f"flushed-{uuid.uuid4().hex[:8]}"))
        db.session.flush()
    elif how == "dirty":
        db.session.get(Brand, brand.id).name = "Dirty"
    elif how == "core_update":
        db.session.execute(update(Brand).where(Brand.id == brand.id).values(name="Updated"))
    elif how == "text":
        db.session.execute(text("UPDATE brands SET name = 'Texted' WHERE id = :id"), {"id": brand.id})
    else:
        db.session.execute(update(Brand).where(Brand.id == brand.id).values(name="Failed"))
    ends.clear()
    end_reads(RuntimeError("the request failed") if how == "failed_request" else None)
    assert "commit" not in ends and db.session().in_transaction()  # left to the session's teardown to roll back
    db.session.rollback()
    assert _brand_name(brand.id) == "Before"


def test_the_tests_check_refuses_to_commit_a_write_the_session_could_not_see(app, make_brand, ends):
    brand = make_brand("Before")
    assert app.config["CHECK_READS_AT_TEARDOWN"]
    db.session.connection().exec_driver_sql(f"UPDATE brands SET name = 'Behind its back' WHERE id = '{brand.id}'")
    ends.clear()
    with pytest.raises(RuntimeError, match="wrote outside transaction"):
        end_reads()
    assert "commit" not in ends
    db.session.rollback()
    assert _brand_name(brand.id) == "Before"


def test_a_commit_that_fails_at_the_end_of_the_reads_is_rolled_back_not_raised(app, make_brand, monkeypatch, caplog):
    brand = make_brand("Reads")
    db.session.execute(select(Brand).where(Brand.id == brand.id)).scalar_one()
    session = db.session()

    def lost(*_: Any, **__: Any) -> None:
        raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(session, "commit", lost)
    end_reads()
    assert not session.in_transaction()
    assert "could not end a request's reads with COMMIT" in caplog.text
