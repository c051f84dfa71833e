"""Issue 9: a booklet printed by the service, read back as a scanner and a reader would.

pdftoppm renders the pages, zxing-cpp reads every QR code, PyJWT checks each against the
published JWKS; pdftotext reads the words. A reprint is the same booklet; the holder's name is
printed and kept nowhere; the letter lists the right venues.
"""

from __future__ import annotations

import io
import json
import logging
import re
import unicodedata
import zlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from xml.etree import ElementTree

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image, ImageDraw

from tests.conftest import PARTNER, World, make_world
from tests.integration.test_secrets_at_rest import _dump
from tests.unit.test_printing import page_count, poppler, rasterise, scan, text_of
from voucher_service.clock import local_zone, parse_rfc3339
from voucher_service.config import Settings
from voucher_service.logs import configure_logging
from voucher_service.partners.siret import luhn_valid
from voucher_service.printing import french
from voucher_service.printing.qr import QUIET_ZONE
from voucher_service.vouchers.tokens import voucher_id_for

pytestmark = poppler

BASE = "https://pass.example.fr"
CREUSE = {
    "code": "CC23",
    "name": "Pass Numérique Cœur de Creuse",
    "funder": "Conseil départemental de la Creuse",
    "territory": ["23"],
}
HOLDER = "Mme Zoé Lefèvre-Œhlenschläger"
GUERET = (46.1716, 1.8716)
KM_NORTH = 1 / 111.195  # degrees of latitude a kilometre


@pytest.fixture
def creuse(app: Flask, client: FlaskClient) -> World:
    """A programme whose name needs œ, handed out by the CCAS, redeemed at the Médiathèque."""
    return make_world(app, client, **CREUSE)


def issued(world: World, reference: str = "case-1") -> dict[str, Any]:
    response = world.issue(reference)
    assert response.status_code == 201, response.json
    booklet: dict[str, Any] = response.json
    return booklet


def pdf_answer(world: World, booklet_id: str, role: str = "issuer", **query: str) -> Any:
    path = f"/v1/booklets/{booklet_id}/pdf"
    if query:
        path += "?" + urlencode(query, quote_via=quote)
    return world.client.get(path, headers=world.headers(role))


def printed(world: World, booklet_id: str, **query: str) -> bytes:
    response = pdf_answer(world, booklet_id, **query)
    assert response.status_code == 200, response.json
    document: bytes = response.data
    return document


def letter(document: bytes) -> str:
    return " ".join(text_of(document, "-f", "1", "-l", "1").split())


def scanned(document: bytes, tmp_path: Path) -> list[str]:
    """What a scanner reads off the voucher pages, page after page."""
    return [
        barcode.text
        for page in range(2, page_count(document) + 1)
        for barcode in scan(rasterise(document, tmp_path, page))
    ]


def verified(world: World, content: str) -> dict[str, Any]:
    """The claims of a scanned code, checked as an offline verifier would: against the JWKS."""
    assert content.startswith(f"{BASE}/r#"), content
    token = content.removeprefix(f"{BASE}/r#")
    published = world.client.get("/.well-known/jwks.json").json["keys"]
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [key for key in published if key["kid"] == kid]
    claims: dict[str, Any] = jwt.decode(
        token, jwt.PyJWK(jwk).key, algorithms=["ES256"], issuer="vs", options={"require": ["exp"]}
    )
    return claims


def add_venue(world: World, name: str, km_north: float, affiliated: bool = True) -> str:
    """A venue `km_north` kilometres north of Guéret."""
    body = {
        **PARTNER,
        "siret": siret(zlib.crc32(name.encode())),
        "name": name,
        "address": f"{name}, Guéret",
        "postcode": "23000",
        "latitude": GUERET[0] + km_north * KM_NORTH,
        "longitude": GUERET[1],
        "programs": [world.program_id] if affiliated else [],
    }
    response = world.client.post("/v1/partners", json=body, headers=world.headers("admin"))
    assert response.status_code == 201, response.json
    return str(response.json["id"])


def siret(serial: int) -> str:
    body = f"9{serial:012d}"
    return next(body + digit for digit in "0123456789" if luhn_valid(body + digit))


# Read back as a scanner would


def test_every_printed_code_verifies_against_the_jwks_and_names_its_voucher(
    creuse: World, tmp_path: Path
) -> None:
    booklet = issued(creuse)
    contents = scanned(printed(creuse, booklet["id"], near="46.1716,1.8716"), tmp_path)
    assert len(contents) == 10
    claims = [verified(creuse, content) for content in contents]
    by_id = {voucher["id"]: voucher for voucher in booklet["vouchers"]}
    assert {voucher_id_for(claim["jti"]) for claim in claims} == set(by_id)
    for claim in claims:
        voucher = by_id[voucher_id_for(claim["jti"])]
        assert (claim["p"], claim["v"]) == ("CC23", 1000)
        assert claim["exp"] == int(parse_rfc3339(voucher["expires_at"]).timestamp())


def test_a_scanned_code_redeems_its_voucher_once(creuse: World, tmp_path: Path) -> None:
    booklet = issued(creuse)
    first, second, *_ = scanned(printed(creuse, booklet["id"]), tmp_path)
    token = first.rpartition("#")[2]
    redeemed = creuse.redeem(token=token)
    assert redeemed.status_code == 201, redeemed.json
    assert redeemed.json["voucher_id"] == voucher_id_for(verified(creuse, first)["jti"])
    assert creuse.redeem(token=token).status_code == 409
    assert creuse.redeem(token=second.rpartition("#")[2]).status_code == 201


def test_a_reprint_is_the_same_booklet_with_the_same_codes(creuse: World, tmp_path: Path) -> None:
    booklet = issued(creuse)
    first = printed(creuse, booklet["id"], near="46.1716,1.8716", holder=HOLDER)
    again = printed(creuse, booklet["id"], near="46.1716,1.8716", holder=HOLDER)
    assert again == first  # dated at issue, signed deterministically: the same document
    sheets = text_of(first, "-f", "2", "-layout")
    codes = re.findall(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]", sheets)
    assert sorted(codes) == sorted(voucher["code"] for voucher in booklet["vouchers"])
    by_admin = pdf_answer(creuse, booklet["id"], role="admin").data
    assert [verified(creuse, c)["jti"] for c in scanned(by_admin, tmp_path)] == [
        verified(creuse, c)["jti"] for c in scanned(first, tmp_path)
    ]


# Read back as a reader would


def test_the_booklet_reads_in_whole_french_with_every_code(creuse: World) -> None:
    booklet = issued(creuse)
    document = printed(creuse, booklet["id"])
    words = letter(document)
    assert "Programme : Pass Numérique Cœur de Creuse" in words
    assert "Financé par : Conseil départemental de la Creuse" in words
    assert "Ce carnet contient 10 chèques. Un chèque vaut 10,00 € et paie un atelier." in words
    expires = parse_rfc3339(booklet["vouchers"][0]["expires_at"]).astimezone(local_zone())
    assert f"Vos chèques sont valables jusqu'au {french.long_date(expires.date())}." in words
    assert words.startswith("CCAS de Limoges")
    sheets = text_of(document, "-f", "2", "-layout")
    for voucher in booklet["vouchers"]:
        assert voucher["code"] in sheets
    assert sheets.count("10,00 €") == 10
    assert [f"{n}/10" in sheets for n in range(1, 11)] == [True] * 10
    assert " ".join(text_of(document, "-f", "2").split()).count("Cœur de Creuse") == 10


def test_the_last_day_printed_is_the_day_before_an_expiry_at_midnight() -> None:
    from voucher_service.vouchers.printed import last_day

    midnight = datetime(2027, 12, 1, tzinfo=local_zone())
    assert last_day(midnight).isoformat() == "2027-11-30"
    assert last_day(midnight.replace(hour=10, minute=42)).isoformat() == "2027-12-01"


# The venues on the letter


def test_the_letter_lists_the_five_affiliated_venues_nearest_to_the_holder(
    creuse: World,
) -> None:
    names = [f"Espace numérique n° {n}" for n in range(1, 7)]
    for distance, name in zip((3, 1, 6, 2, 5, 4), names, strict=True):
        add_venue(creuse, name, distance)
    add_venue(creuse, "Lieu voisin sans le programme", 0.2, affiliated=False)
    hours = {"mo": [["09:00", "12:00"], ["14:00", "18:00"]], "sa": [["09:00", "12:30"]]}
    creuse.client.patch(
        f"/v1/partners/{add_venue(creuse, 'Œuvre du Lien', 2.5)}",
        json={"opening_hours": hours},
        headers=creuse.headers("admin"),
    )
    words = letter(printed(creuse, issued(creuse)["id"], near="46.1716,1.8716"))
    expected = ["n° 2 — à 1,0 km", "n° 4 — à 2,0 km", "Œuvre du Lien — à 2,5 km", "n° 1 — à 3,0 km"]
    expected.append("n° 6 — à 4,0 km")
    places = [words.index(name) for name in expected]
    assert places == sorted(places)
    assert "n° 5" not in words and "n° 3" not in words  # the sixth and seventh
    assert "sans le programme" not in words
    assert "Médiathèque francophone" not in words  # affiliated, but 70 km away
    assert "Horaires : Lundi 9 h – 12 h et 14 h – 18 h ; samedi 9 h – 12 h 30" in words


def test_without_a_place_the_letter_lists_the_venues_nearest_to_the_organisation(
    creuse: World,
) -> None:
    add_venue(creuse, "Espace numérique de Guéret", 1)
    booklet = issued(creuse)
    words = letter(printed(creuse, booklet["id"]))
    assert "Espace numérique de Guéret" not in words and "Médiathèque" not in words
    assert "Pour connaître d'autres lieux, adressez-vous à qui vous a remis ce carnet." in words
    located = creuse.client.patch(
        f"/v1/organisations/{creuse.organisation_id}",
        json={"address": "Place Bonnyaud, Guéret", "postcode": "23000",
              "latitude": GUERET[0], "longitude": GUERET[1]},
        headers=creuse.headers("admin"),
    )  # fmt: skip
    assert located.status_code == 200, located.json
    words = letter(printed(creuse, booklet["id"]))
    assert words.index("Espace numérique de Guéret — à 1,0 km") < words.index("Médiathèque")
    nearer_limoges = letter(printed(creuse, booklet["id"], near="45.8336,1.2532"))
    assert nearer_limoges.index("Médiathèque") < nearer_limoges.index("Espace numérique")


# The holder


@pytest.fixture
def logged(settings: Settings) -> Iterator[io.StringIO]:
    """Everything the service logs, through the real formatter, at DEBUG."""
    stream = io.StringIO()
    configure_logging(settings, stream=stream, level=logging.DEBUG)
    yield stream
    configure_logging(settings)


def test_the_holder_is_printed_when_named_and_kept_nowhere(
    creuse: World, database_url: str, logged: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    booklet = issued(creuse)
    named = printed(creuse, booklet["id"], holder=f"  {unicodedata.normalize('NFD', HOLDER)} ")
    assert f"Chèques remis à : {HOLDER}" in letter(named)
    assert "remis à" not in letter(printed(creuse, booklet["id"]))
    assert "remis à" not in letter(printed(creuse, booklet["id"], holder=" "))
    kept = _dump(database_url) + logged.getvalue().encode()
    kept += "\n".join(record.getMessage() for record in caplog.records).encode()
    for form in ("NFC", "NFD"):
        name = unicodedata.normalize(form, HOLDER)
        for trace in (name, name.casefold(), quote(name), "Lefèvre", "Œhlenschläger"):
            assert unicodedata.normalize(form, trace).encode() not in kept, trace
    assert b"/pdf" in logged.getvalue().encode()  # the requests were logged, by route


def test_printing_logs_its_access_line_and_nothing_else(world: World, logged: io.StringIO) -> None:
    """fontTools, subsetting the typefaces, would log the glyphs it keeps at INFO: the letters
    of the holder's name. Only fpdf2's sizes remain, at DEBUG."""
    booklet = issued(world)
    logged.seek(0)
    logged.truncate()
    assert pdf_answer(world, booklet["id"], holder=HOLDER).status_code == 200
    lines = [json.loads(line) for line in logged.getvalue().splitlines()]
    assert [line["route"] for line in lines if line["level"] != "debug"] == [
        "/v1/booklets/<uuid:booklet_id>/pdf"
    ]
    assert {line["logger"] for line in lines} <= {"voucher_service.access", "fpdf.output"}


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ({"holder": "Zoé" * 27}, "holder"),  # 81 characters
        ({"holder": "Zoé\x07"}, "holder"),
        ({"holder": "Zoé\nLefèvre"}, "holder"),
        ({"holder": "\u202eévèfeL éoZ"}, "holder"),  # a right-to-left override
        ({"holder": "Zoé\u200b"}, "holder"),  # a zero-width space
        ({"holder": "李小龍"}, "holder"),  # no glyph in our typefaces
        ({"holder": "Zo\ufffd"}, "holder"),
        ({"near": "91,1.87"}, "near"),
        ({"near": "46.17"}, "near"),
        ({"near": "nan,nan"}, "near"),
        ({"near": "46.17,1.87,0"}, "near"),
    ],
)
def test_a_bad_holder_or_place_is_refused_without_repeating_it(
    world: World, query: dict[str, str], path: str
) -> None:
    response = pdf_answer(world, issued(world)["id"], **query)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json["errors"][0]["path"] == path
    assert query.get("holder", "\x00") not in response.get_data(as_text=True)


def test_a_holder_of_eighty_characters_is_printed_whole(world: World) -> None:
    name = "Marie-Thérèse " + "d'Aigrefeuille-Saint-Priest-" * 3
    name = name[:80].rstrip("-")
    assert f"remis à : {name}" in letter(printed(world, issued(world)["id"], holder=name))


# The answers and who may have them


def test_the_pdf_is_inline_named_after_the_booklet_and_never_cached(world: World) -> None:
    booklet = issued(world)
    response = pdf_answer(world, booklet["id"])
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    assert response.headers["Cache-Control"] == "no-store"
    disposition = f'inline; filename="carnet-{booklet["id"][:8]}.pdf"'
    assert response.headers["Content-Disposition"] == disposition


def stranger(world: World) -> dict[str, str]:
    """An issuer of another organisation."""
    admin = world.headers("admin")
    other = world.client.post(
        "/v1/organisations", json={"name": "Mairie de Guéret", "kind": "mairie"}, headers=admin
    ).json
    key = world.client.post(
        "/v1/api-keys", json={"role": "issuer", "organisation_id": other["id"]}, headers=admin
    ).json["key"]
    return {"Authorization": f"Bearer {key}"}


def test_a_booklet_and_its_qr_codes_are_for_its_organisation_and_the_admin(world: World) -> None:
    booklet = issued(world)
    voucher_id = booklet["vouchers"][0]["id"]
    paths = [f"/v1/booklets/{booklet['id']}/pdf"]
    paths += [f"/v1/vouchers/{voucher_id}/qr.{kind}" for kind in ("svg", "png")]
    foreign = stranger(world)
    for path in paths:
        statuses = {
            role: world.client.get(path, headers=world.headers(role)).status_code
            for role in ("issuer", "admin", "partner", "auditor")
        }
        assert statuses == {"issuer": 200, "admin": 200, "partner": 403, "auditor": 403}, path
        assert world.client.get(path, headers=foreign).status_code == 404, path  # not leaked
        assert world.client.get(path).status_code == 401, path
        unknown = path.replace(path.split("/")[3], "00000000-0000-4000-8000-000000000000")
        assert world.client.get(unknown, headers=world.headers("admin")).status_code == 404


def test_the_qr_images_hold_the_same_content_as_the_printed_voucher(
    world: World, tmp_path: Path
) -> None:
    booklet = issued(world)
    contents = scanned(printed(world, booklet["id"]), tmp_path)
    voucher = booklet["vouchers"][3]
    (on_paper,) = [
        c for c in contents if voucher_id_for(verified(world, c)["jti"]) == voucher["id"]
    ]
    svg = world.client.get(f"/v1/vouchers/{voucher['id']}/qr.svg", headers=world.headers("issuer"))
    png = world.client.get(f"/v1/vouchers/{voucher['id']}/qr.png", headers=world.headers("admin"))
    assert (svg.mimetype, png.mimetype) == ("image/svg+xml", "image/png")
    assert svg.headers["Cache-Control"] == png.headers["Cache-Control"] == "no-store"
    assert svg.headers["Content-Security-Policy"] == "default-src 'none'"
    for image in (drawn(svg.get_data(as_text=True)), Image.open(io.BytesIO(png.data))):
        (barcode,) = scan(image)
        assert barcode.text == on_paper
        assert barcode.ec_level == "Q"
    assert world.redeem(token=on_paper.rpartition("#")[2]).status_code == 201


def drawn(svg: str, scale: int = 6) -> Image.Image:
    """The SVG drawn as a renderer would draw ours: a white square and runs of dark modules
    (nothing else is allowed in it), with its quiet zone left white."""
    root = ElementTree.fromstring(svg)  # noqa: S314 (the service's own answer, no entities)
    namespace = "{http://www.w3.org/2000/svg}"
    side = int(root.attrib["viewBox"].split()[2])
    (background,) = root.iter(f"{namespace}rect")
    assert background.attrib == {"width": str(side), "height": str(side), "fill": "#fff"}
    (path,) = root.iter(f"{namespace}path")
    runs = path.attrib["d"]
    assert re.fullmatch(r"(M\d+ \d+h\d+v1h-\d+z)+", runs)
    image = Image.new("1", (side * scale, side * scale), 1)
    pen = ImageDraw.Draw(image)
    for column, row, length in (map(int, run) for run in re.findall(r"M(\d+) (\d+)h(\d+)", runs)):
        assert QUIET_ZONE <= row < side - QUIET_ZONE
        assert QUIET_ZONE <= column <= side - QUIET_ZONE - length
        pen.rectangle(
            (column * scale, row * scale, (column + length) * scale - 1, (row + 1) * scale - 1),
            fill=0,
        )
    return image
