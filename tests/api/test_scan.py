"""The cashier's scan: a live member code is recognised once; forged, expired, replayed,
malformed and other-brand codes are refused with a precise reason and change nothing."""

import threading
import time

import pytest
from sqlalchemy import select

from wallet.auth.models import Role
from wallet.cards.models import Membership
from wallet.extensions import db
from wallet.passes import codes
from wallet.passes.models import Pass
from wallet.passes.services import MAX_FAILED_ATTEMPTS


@pytest.fixture
def brand(make_brand):
    return make_brand("Lumière")


@pytest.fixture
def store(make_store, brand):
    return make_store(brand, "Châtelet")


@pytest.fixture
def till(make_staff, brand, store, login):
    return login(make_staff(Role.CASHIER, brand, [store]))


@pytest.fixture
def member(client, make_shopper, login, brand):
    shopper = make_shopper(display_name="Camille Martin")
    response = client.post("/v1/me/memberships", json={"brand_id": str(brand.id)}, headers=login(shopper))
    membership = db.session.get(Membership, response.get_json()["id"])
    return db.session.get(Pass, membership.pass_id)


def _code(pass_: Pass, offset_steps: int = 0) -> str:
    step = codes.step_at(time.time()) + offset_steps
    return codes.format_pass_code(pass_.kind, pass_.short_id, pass_.secret, step)


def _scan(client, headers, code, **extra):
    return client.post("/v1/pos/scan", json={"code": code, **extra}, headers=headers)


def _refusal(response, reason, status=422):
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["reason"] == reason
    assert "member" not in body and "Camille" not in response.get_data(as_text=True)
    return body


def test_a_live_member_code_is_recognised_once_and_then_refused_as_replayed(client, till, member, store):
    code = _code(member)
    response = _scan(client, till, code)
    assert response.status_code == 200
    body = response.get_json()
    assert body["kind"] == "member_card" and body["store_id"] == str(store.id)
    assert body["member"]["display_name"] == "Camille Martin" and len(body["member"]["member_number"]) == 12
    _refusal(_scan(client, till, code), "code_replayed")


def test_a_code_within_one_step_of_clock_drift_is_accepted(client, till, member):
    assert _scan(client, till, _code(member, -1)).status_code == 200
    assert _scan(client, till, _code(member, +1)).status_code == 200
    # An older step than one already accepted is a replay, even inside the drift window.
    _refusal(_scan(client, till, _code(member, 0)), "code_replayed")


def test_an_old_screenshot_is_refused_as_expired(client, till, member):
    _refusal(_scan(client, till, _code(member, -2)), "code_expired")


@pytest.mark.parametrize("ahead", [2, 3, 10])
def test_a_code_from_a_few_steps_ahead_is_not_yet_valid_and_blames_the_clock(client, till, member, ahead):
    body = _refusal(_scan(client, till, _code(member, ahead)), "code_not_yet_valid")
    assert "clock" in body["message"] and "expired" not in body["message"].lower()
    assert body["errors"]["json"]["code"] == [body["message"]]
    db.session.refresh(member)
    assert member.last_accepted_step is None
    # The tolerance window is unchanged: one step ahead is still accepted.
    assert _scan(client, till, _code(member, +1)).status_code == 200


def _member_number(pass_: Pass) -> str:
    return db.session.scalar(select(Membership.member_number).where(Membership.pass_id == pass_.id))


@pytest.mark.parametrize("typed", [
    lambda n: n, lambda n: f"{n[:4]} {n[4:8]} {n[8:]}", lambda n: f" {n[:4]}-{n[4:8]}-{n[8:]} "],
    ids=["plain", "spaced", "hyphenated"])
def test_a_typed_member_number_is_recognised_and_the_cashier_told_what_to_do(client, till, member, typed):
    number = _member_number(member)
    response = _scan(client, till, typed(number))
    body = _refusal(response, "member_number_not_accepted")
    assert "member number" in body["message"] and "scan the pass" in body["message"].lower()
    assert number not in response.get_data(as_text=True)
    assert "token" not in response.get_data(as_text=True)
    db.session.refresh(member)
    # It identifies no one: no pass is looked at, nothing is spent or counted.
    assert member.last_accepted_step is None and member.failed_attempts == 0


def test_any_member_number_gets_the_same_answer_whether_or_not_it_exists(client, till, member, make_brand,
                                                                        make_shopper, login):
    from wallet.passes.symbologies import luhn_check_digit

    other = make_brand("Other")
    stranger = login(make_shopper())
    foreign = client.post("/v1/me/memberships", json={"brand_id": str(other.id)}, headers=stranger).get_json()
    body = "40063813339"
    unissued = body + str(luhn_check_digit(body))
    answers = [_scan(client, till, number).get_json() for number in (_member_number(member),
                                                                      foreign["member_number"], unissued)]
    assert {a["reason"] for a in answers} == {"member_number_not_accepted"}
    assert len({a["message"] for a in answers}) == 1


def test_twelve_digits_failing_the_luhn_check_are_not_taken_for_a_member_number(client, till, member):
    number = _member_number(member)
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    _refusal(_scan(client, till, wrong), "code_malformed")


def test_forged_codes_are_refused(client, till, member):
    code = _code(member)
    prefix, kind, short_id, step, otp = code.split(".")
    tampered_otp = ".".join([prefix, kind, short_id, step, f"{(int(otp) + 1) % 10**8:08d}"])
    _refusal(_scan(client, till, tampered_otp), "code_forged")
    other_secret = codes.format_pass_code("M", member.short_id, codes.generate_secret(), int(step))
    _refusal(_scan(client, till, other_secret), "code_forged")
    db.session.refresh(member)
    assert member.last_accepted_step is None and member.failed_attempts == 2
    # The genuine code still works afterwards: refusals spent nothing.
    assert _scan(client, till, code).status_code == 200


@pytest.mark.parametrize(
    "code", ["", "W1.M", "W1.M.K3M9QXAB.1.123", "w1.m.k3m9qxab.1.12345678", "4006381333931", "x" * 513],
    ids=["empty", "truncated", "short-otp", "lowercase", "a-plain-ean", "too-long"],
)
def test_malformed_codes_are_refused(client, till, member, code):
    response = _scan(client, till, code)
    assert response.status_code == 422
    assert response.get_json()["reason"] in ("code_malformed", "validation_failed")


def test_a_well_formed_code_of_no_pass_is_unknown(client, till, member):
    code = codes.format_pass_code("M", codes.generate_short_id(), codes.generate_secret(), codes.step_at(time.time()))
    _refusal(_scan(client, till, code), "code_unknown")


def test_a_cashier_of_another_brand_learns_nothing_about_the_member(client, member, make_brand, make_store,
                                                                   make_staff, login):
    other = make_brand("Other")
    stranger = login(make_staff(Role.CASHIER, other, [make_store(other)]))
    _refusal(_scan(client, stranger, _code(member)), "code_other_brand")
    db.session.refresh(member)
    assert member.last_accepted_step is None


def test_the_typed_fallback_code_is_accepted_once(client, till, member):
    step = codes.step_at(time.time())
    typed = codes.format_fallback_code(member.short_id, member.secret, step).lower().replace("-", " ")
    response = _scan(client, till, typed)
    assert response.status_code == 200 and response.get_json()["kind"] == "member_card"
    _refusal(_scan(client, till, typed), "code_replayed")
    _refusal(_scan(client, till, _code(member)), "code_replayed")  # the same step shown as a QR


def test_a_typo_in_the_fallback_code_is_caught_by_its_check_character(client, till, member):
    typed = codes.format_fallback_code(member.short_id, member.secret, codes.step_at(time.time()))
    wrong = typed[:-3] + ("1" if typed[-3] != "1" else "2") + typed[-2:]
    body = _refusal(_scan(client, till, wrong), "code_malformed")
    assert "check character" in body["message"]


def test_repeated_wrong_codes_lock_the_pass_for_a_while(client, till, member):
    step = codes.step_at(time.time())
    for attempt in range(MAX_FAILED_ATTEMPTS):
        _refusal(_scan(client, till, f"W1.M.{member.short_id}.{step}.{attempt:08d}"), "code_forged")
    locked = _scan(client, till, _code(member))
    _refusal(locked, "code_locked", status=429)
    assert int(locked.headers["Retry-After"]) > 0


def test_a_cashier_of_several_stores_says_which_and_only_their_own(client, brand, member, make_store, make_staff,
                                                                 login, make_brand):
    first, second = make_store(brand, "A"), make_store(brand, "B")
    elsewhere = make_store(brand, "C")
    cashier = login(make_staff(Role.CASHIER, brand, [first, second]))
    assert _scan(client, cashier, _code(member)).status_code == 422  # which store?
    assert _scan(client, cashier, _code(member), store_id=str(elsewhere.id)).status_code == 403
    response = _scan(client, cashier, _code(member), store_id=str(second.id))
    assert response.status_code == 200 and response.get_json()["store_id"] == str(second.id)


def test_a_pos_key_scans_for_its_store(client, member, store, make_pos_key):
    response = _scan(client, {"X-API-Key": make_pos_key(store)}, _code(member))
    assert response.status_code == 200 and response.get_json()["store_id"] == str(store.id)


def test_racing_tills_accept_one_live_code_exactly_once(app, till, member):
    code = _code(member)
    barrier = threading.Barrier(12)
    statuses: list[int] = []

    def scan() -> None:
        with app.app_context():
            client = app.test_client()
            barrier.wait()
            statuses.append(_scan(client, till, code).status_code)
            db.session.remove()

    threads = [threading.Thread(target=scan) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [422] * 11
    assert db.session.scalar(select(Pass.last_accepted_step).where(Pass.id == member.id)) == int(code.split(".")[3])
