"""Push on the embedded SQLite database, as `make run` has it: the dispatcher thread in the server
process (polling), the `wallet worker --once` command, the log provider printing what it sends."""

from __future__ import annotations

import time
import uuid

import pytest
from flask_migrate import upgrade
from sqlalchemy import select

from tests.conftest import TEST_CONFIG
from wallet import create_app
from wallet.auth import services as auth_services
from wallet.auth.principal import SHOPPER, Principal
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.push import services as push
from wallet.push.models import SENT, SUPPRESSED, PushOutbox

SQLITE_PUSH = {"PUSH_PROVIDER": "log", "PUSH_QUIET_HOURS": "", "PUSH_POLL_SECONDS": 0.05}


@pytest.fixture
def sqlite_app(tmp_path):
    def make(**config):
        app = create_app({**TEST_CONFIG, **SQLITE_PUSH, "DATABASE_URL": f"sqlite:///{tmp_path / 'wallet.db'}",
                          **config})
        made.append(app)
        return app

    made = []
    yield make
    for app in made:
        dispatcher = app.extensions.get("wallet.push_dispatcher")
        if dispatcher is not None:
            thread, stop = dispatcher
            stop.set()
            thread.join(timeout=5)
        with app.app_context():
            db.engine.dispose()


def _pushes(count: int, *, with_device: bool = True) -> list[uuid.UUID]:
    shopper, _ = auth_services.sign_up_shopper(email=f"{uuid.uuid4().hex[:8]}@example.com",
                                               password="correct-horse-battery", display_name="S",
                                               consents={"marketing": True})
    if with_device:
        push.register_device(principal=Principal(id=shopper.id, role=SHOPPER), token="sqlite-phone",
                             platform="ios", app_version="1.0", locale="fr-FR")
    ids = []
    with transaction() as session:
        for _ in range(count):
            row = PushOutbox(id=uuid.uuid4(), shopper_id=shopper.id, kind="coupon", collapse_key="offer-demo",
                             ttl_seconds=900, payload={"title": "Un croissant offert", "body": "Ce matin",
                                                       "data": {"deep_link": "wallet://coupons/x"}})
            session.add(row)
            ids.append(row.id)
    return ids


def _statuses(ids) -> list[str]:
    db.session.expire_all()
    return [db.session.get(PushOutbox, row_id).status for row_id in ids]


def test_the_worker_command_sends_what_is_due_and_says_so(sqlite_app):
    app = sqlite_app()
    with app.app_context():
        upgrade()
        sent = _pushes(2)
        result = app.test_cli_runner().invoke(args=["worker", "--once"])
        assert result.exit_code == 0, result.output
        assert "push [log] -> ios …te-phone: 'Un croissant offert'" in result.output
        assert "push worker: claimed 2, sent 2" in result.output
        assert _statuses(sent) == [SENT, SENT]


def test_make_run_pushes_from_a_thread_in_the_server_process(sqlite_app):
    migrate = sqlite_app()
    with migrate.app_context():
        upgrade()
    app = sqlite_app(PUSH_DISPATCHER_THREAD=True)
    thread, _ = app.extensions["wallet.push_dispatcher"]
    assert thread.is_alive()
    with app.app_context():
        ids = _pushes(1) + _pushes(1, with_device=False)
        deadline = time.monotonic() + 5
        while SUPPRESSED not in _statuses(ids) or SENT not in _statuses(ids):
            assert time.monotonic() < deadline, _statuses(ids)
            time.sleep(0.05)
        suppressed = db.session.scalars(select(PushOutbox).where(PushOutbox.status == SUPPRESSED)).one()
        assert suppressed.reason == "no_device"
