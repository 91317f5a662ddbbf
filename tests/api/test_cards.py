"""The wallet: adding cards of any shop, listing them by nearest store, rendering them, memberships."""

import io
import json

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from wallet.auth.models import ConsentEvent
from wallet.passes import codes
from wallet.passes.symbologies import is_valid_luhn
from wallet.privacy.models import BrandConsent
from wallet.extensions import db

ZXING_FORMATS = {
    "ean13": zxingcpp.BarcodeFormat.EAN13, "ean8": zxingcpp.BarcodeFormat.EAN8,
    "upca": zxingcpp.BarcodeFormat.UPCA, "code128": zxingcpp.BarcodeFormat.Code128,
    "code39": zxingcpp.BarcodeFormat.Code39Std, "itf": zxingcpp.BarcodeFormat.ITF,
    "qr": zxingcpp.BarcodeFormat.QRCode,
}


@pytest.fixture
def shopper(make_shopper, login):
    return login(make_shopper())


@pytest.fixture
def lumiere(make_brand, make_store):
    brand = make_brand("Lumière", card_number_pattern=r"^\d{13}$", default_symbology="ean13")
    make_store(brand, "Châtelet", lat=48.85745, lon=2.35104)
    return brand


def _add(client, headers, **card):
    return client.post("/v1/me/cards", json=card, headers=headers)


def _decode(png: bytes, symbology: str) -> str:
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)), formats=ZXING_FORMATS[symbology])
    assert len(results) == 1
    return results[0].text


def test_a_catalogue_brand_card_takes_the_brands_symbology_and_spaces_are_ignored(client, shopper, lumiere):
    response = _add(client, shopper, brand_id=str(lumiere.id), number="4006 3813 3393 1", label="Boulangerie")
    assert response.status_code == 201
    card = response.get_json()
    assert (card["kind"], card["number"], card["symbology"]) == ("byo", "4006381333931", "ean13")
    assert card["brand"]["name"] == "Lumière" and card["label"] == "Boulangerie"


@pytest.mark.parametrize(
    ("number", "message"),
    [("4006381333932", "check digit"), ("40063813339", "expected"), ("40063813339AB", "expected")],
    ids=["wrong-check-digit", "does-not-match-pattern", "letters"],
)
def test_a_bad_number_for_the_brand_is_refused_with_a_reason(client, shopper, lumiere, number, message):
    response = _add(client, shopper, brand_id=str(lumiere.id), number=number)
    assert response.status_code == 422
    assert message in json.dumps(response.get_json()["errors"]["json"]["number"])


def test_letters_in_an_ean_are_refused_even_without_a_brand_pattern(client, shopper, make_brand):
    brand = make_brand("No pattern", default_symbology="ean13")
    response = _add(client, shopper, brand_id=str(brand.id), number="40063813339A1")
    assert response.status_code == 422 and "digits" in json.dumps(response.get_json()["errors"])


def test_the_same_card_twice_is_a_conflict(client, shopper, lumiere):
    assert _add(client, shopper, brand_id=str(lumiere.id), number="4006381333931").status_code == 201
    again = _add(client, shopper, brand_id=str(lumiere.id), number="4006 3813 3393 1")
    assert again.status_code == 409 and again.get_json()["reason"] == "card_exists"
    shop = {"shop_name": "Fromagerie Paul", "number": "FP-1234", "symbology": "code128"}
    assert _add(client, shopper, **shop).status_code == 201
    assert _add(client, shopper, **{**shop, "shop_name": "FROMAGERIE PAUL"}).status_code == 409


@pytest.mark.parametrize(
    ("card", "field"),
    [
        ({"shop_name": "Corner", "number": "123"}, "symbology"),
        ({"shop_name": "Corner", "number": "123", "symbology": "aztec"}, "symbology"),
        ({"shop_name": "Corner", "number": "abc", "symbology": "code39"}, "number"),
        ({"shop_name": "Corner", "number": "123", "symbology": "itf"}, "number"),
        ({"number": "123"}, "brand_id"),
        ({"shop_name": "Corner", "number": "", "symbology": "qr"}, "number"),
    ],
    ids=["no-symbology", "unknown-symbology", "code39-lowercase", "itf-odd-length", "no-shop", "empty-number"],
)
def test_cards_of_other_shops_need_a_symbology_that_can_encode_the_number(client, shopper, card, field):
    response = _add(client, shopper, **card)
    assert response.status_code == 422 and field in response.get_json()["errors"]["json"]


def test_both_a_brand_and_a_shop_name_is_refused(client, shopper, lumiere):
    response = _add(client, shopper, brand_id=str(lumiere.id), shop_name="X", number="4006381333931")
    assert response.status_code == 422


def test_an_unlisted_or_unknown_brand_cannot_be_chosen(client, shopper, make_brand):
    hidden = make_brand("Hidden", listed=False)
    assert _add(client, shopper, brand_id=str(hidden.id), number="1").status_code == 422


def test_cards_are_private_to_their_shopper(client, shopper, make_shopper, login):
    card = _add(client, shopper, shop_name="Corner", number="C-1", symbology="code128").get_json()
    intruder = login(make_shopper())
    for method, suffix in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "/barcode"), ("GET", "/pass")):
        response = client.open(f"/v1/me/cards/{card['id']}{suffix}", method=method,
                               json={"label": "x"} if method == "PATCH" else None, headers=intruder)
        assert response.status_code == 404, (method, suffix)
    assert client.get("/v1/me/cards", headers=intruder).get_json() == []


def test_a_number_without_its_check_digit_is_the_same_card(client, shopper):
    pharmacy = {"shop_name": "Pharmacie", "symbology": "ean13"}
    first = _add(client, shopper, **pharmacy, number="4006381333931")
    assert first.status_code == 201
    again = _add(client, shopper, **pharmacy, number="400638133393")
    assert again.status_code == 409 and again.get_json()["reason"] == "card_exists"
    assert [card["id"] for card in client.get("/v1/me/cards", headers=shopper).get_json()] == [first.get_json()["id"]]


def test_renaming_a_shop_onto_the_same_card_is_a_conflict(client, shopper):
    kept = _add(client, shopper, shop_name="Pharmacie", number="4006381333931", symbology="ean13").get_json()
    other = _add(client, shopper, shop_name="Parapharmacie", number="400638133393", symbology="ean13").get_json()
    response = client.patch(f"/v1/me/cards/{other['id']}", json={"shop_name": " PHARMACIE"}, headers=shopper)
    assert response.status_code == 409 and response.get_json()["reason"] == "card_exists"
    assert client.get(f"/v1/me/cards/{other['id']}", headers=shopper).get_json()["shop_name"] == "Parapharmacie"
    assert kept["number"] == other["number"] == "4006381333931"


def test_rename_and_delete_a_card(client, shopper):
    card = _add(client, shopper, shop_name="Corner", number="C-1", symbology="code128").get_json()
    renamed = client.patch(f"/v1/me/cards/{card['id']}", json={"label": "Épicerie", "shop_name": "Corner Shop"},
                           headers=shopper)
    assert renamed.get_json()["label"] == "Épicerie" and renamed.get_json()["shop_name"] == "Corner Shop"
    assert client.delete(f"/v1/me/cards/{card['id']}", headers=shopper).status_code == 204
    assert client.get(f"/v1/me/cards/{card['id']}", headers=shopper).status_code == 404


def test_the_wallet_is_ordered_by_the_nearest_store_of_each_brand(client, shopper, make_brand, make_store):
    near = make_brand("Near", default_symbology="code128")
    far = make_brand("Far", default_symbology="code128")
    make_store(near, "Near 1", lat=48.8600, lon=2.3500)
    make_store(near, "Near 2", lat=48.8400, lon=2.3000)
    make_store(far, "Far 1", lat=48.8900, lon=2.3900)
    _add(client, shopper, brand_id=str(near.id), number="N1")
    _add(client, shopper, shop_name="Corner", number="C1", symbology="code128")
    _add(client, shopper, brand_id=str(far.id), number="F1")
    newest_first = [c["number"] for c in client.get("/v1/me/cards", headers=shopper).get_json()]
    assert newest_first == ["F1", "C1", "N1"]
    cards = client.get("/v1/me/cards?near=48.8601,2.3501", headers=shopper).get_json()
    assert [c["number"] for c in cards] == ["N1", "F1", "C1"]
    assert cards[0]["nearest_store"]["name"] == "Near 1" and 5 < cards[0]["distance_m"] < 20
    assert cards[2]["distance_m"] is None
    paged = client.get("/v1/me/cards?near=48.8601,2.3501&page=2&page_size=2", headers=shopper)
    assert [c["number"] for c in paged.get_json()] == ["C1"]
    assert json.loads(paged.headers["X-Pagination"])["total"] == 3


@pytest.mark.parametrize("near", ["91,2.35", "48.85,181", "48.85", "abc,def", "nan,2"])
def test_an_invalid_near_position_is_422(client, shopper, near):
    assert client.get(f"/v1/me/cards?near={near}", headers=shopper).status_code == 422


@pytest.mark.parametrize(
    ("symbology", "number", "decoded"),
    [
        ("ean13", "4006381333931", "4006381333931"),
        ("ean8", "96385074", "96385074"),
        ("upca", "036000291452", "0036000291452"),  # zxing reports UPC-A as its EAN-13 form
        ("code128", "MV-2024-0042", "MV-2024-0042"),
        ("code39", "LIB 42", "LIB 42"),
        ("itf", "12345670", "12345670"),
        ("qr", "https://example.com/card/42?é", "https://example.com/card/42?é"),
    ],
)
def test_every_symbology_renders_to_a_png_an_independent_decoder_reads_back(client, shopper, symbology, number,
                                                                          decoded):
    card = _add(client, shopper, shop_name=f"Shop {symbology}", number=number, symbology=symbology).get_json()
    response = client.get(f"/v1/me/cards/{card['id']}/barcode", headers=shopper)
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert _decode(response.data, symbology) == decoded


def test_barcode_images_carry_an_etag_and_answer_304(client, shopper):
    card = _add(client, shopper, shop_name="Corner", number="C-1", symbology="code128").get_json()
    url = f"/v1/me/cards/{card['id']}/barcode?format=svg"
    first = client.get(url, headers=shopper)
    assert first.mimetype == "image/svg+xml" and b"<svg" in first.data
    assert "private" in first.headers["Cache-Control"] and "max-age=86400" in first.headers["Cache-Control"]
    again = client.get(url, headers={**shopper, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


@pytest.mark.parametrize("query", ["scale=0", "scale=50", "height=5000", "format=gif", "scale=two", "text=maybe"])
def test_absurd_or_malformed_render_options_are_422(client, shopper, query):
    card = _add(client, shopper, shop_name="Corner", number="C-1", symbology="code128").get_json()
    assert client.get(f"/v1/me/cards/{card['id']}/barcode?{query}", headers=shopper).status_code == 422


def test_an_image_too_large_to_render_is_422_with_a_reason(client, shopper):
    card = _add(client, shopper, shop_name="Corner", number="X" * 80, symbology="code128").get_json()
    response = client.get(f"/v1/me/cards/{card['id']}/barcode?scale=20", headers=shopper)
    assert response.status_code == 422 and response.get_json()["reason"] == "unrenderable"
    assert "4096" in response.get_json()["message"]


def test_enrolment_issues_a_member_card_and_records_the_opt_in(client, shopper, lumiere, make_shopper):
    response = client.post("/v1/me/memberships", json={"brand_id": str(lumiere.id)}, headers=shopper)
    assert response.status_code == 201
    membership = response.get_json()
    number = membership["member_number"]
    assert len(number) == 12 and is_valid_luhn(number)
    assert membership["card"]["kind"] == "member" and membership["card"]["member_number"] == number
    consent = db.session.scalar(select(BrandConsent))
    assert (consent.brand_id, consent.opted_in, consent.source) == (lumiere.id, True, "enrolment")
    event = db.session.scalar(select(ConsentEvent).where(ConsentEvent.consent == "brand"))
    assert event.brand_id == lumiere.id and event.granted and event.source == "enrolment"

    again = client.post("/v1/me/memberships", json={"brand_id": str(lumiere.id)}, headers=shopper)
    assert again.status_code == 409 and again.get_json()["reason"] == "already_member"
    assert [m["member_number"] for m in client.get("/v1/me/memberships", headers=shopper).get_json()] == [number]
    deleted = client.delete(f"/v1/me/cards/{membership['card']['id']}", headers=shopper)
    assert deleted.status_code == 409 and deleted.get_json()["reason"] == "member_card"


def test_member_numbers_are_unique_within_a_brand(client, lumiere, make_shopper, login):
    numbers = {
        client.post("/v1/me/memberships", json={"brand_id": str(lumiere.id)},
                    headers=login(make_shopper())).get_json()["member_number"]
        for _ in range(5)
    }
    assert len(numbers) == 5


def test_a_member_card_pass_gives_what_the_app_needs_to_show_codes_offline(client, shopper, lumiere):
    card = client.post("/v1/me/memberships", json={"brand_id": str(lumiere.id)}, headers=shopper).get_json()["card"]
    descriptor = client.get(f"/v1/me/cards/{card['id']}/pass", headers=shopper).get_json()
    assert (descriptor["algorithm"], descriptor["digits"], descriptor["period"]) == ("SHA1", 8, 30)
    import base64

    secret = base64.b32decode(descriptor["secret_base32"] + "=" * (-len(descriptor["secret_base32"]) % 8))
    step = int(descriptor["current_code"].split(".")[3])
    # The app computes the same code offline from the secret (RFC 6238).
    assert descriptor["current_code"] == codes.format_pass_code("M", descriptor["short_id"], secret, step)
    qr = client.get(f"/v1/me/cards/{card['id']}/barcode", headers=shopper)
    assert _decode(qr.data, "qr").startswith(f"W1.M.{descriptor['short_id']}.")
    assert int(qr.headers["Cache-Control"].split("max-age=")[1]) <= 30


def test_a_card_brought_by_the_shopper_has_no_rotating_pass(client, shopper):
    card = _add(client, shopper, shop_name="Corner", number="C-1", symbology="code128").get_json()
    response = client.get(f"/v1/me/cards/{card['id']}/pass", headers=shopper)
    assert response.status_code == 409 and response.get_json()["reason"] == "not_a_member_card"
