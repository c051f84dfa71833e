"""The issuer's pages, /issue: issue a booklet, print it, find, cancel, reissue, activate."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

from flask.testing import FlaskClient

from tests.conftest import World
from voucher_service.clock import now
from voucher_service.people.accounts import create_user

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
NONCE = re.compile(r'name="nonce" value="([^"]+)"')


def sign_in(world: World, role: str = "issuer", email: str | None = None) -> None:
    """A person's session for `world.client`, as /login leaves it (web/people.py)."""
    database = world.client.application.extensions["voucher_service"].database
    binding: dict[str, Any] = {}
    if role == "issuer":
        binding["organisation_id"] = world.organisation_id
    if role == "partner":
        binding["partner_id"] = world.partner_id
    user = create_user(
        database,
        email or f"{role}-{uuid.uuid4().hex[:6]}@example.fr",
        role,
        "un mot de passe assez long",
        now(),
        **binding,
    )
    with world.client.session_transaction() as session:
        session["uid"], session["gen"], session["seen"] = user["id"], 0, int(now().timestamp())


def form_of(client: FlaskClient, path: str, action: str) -> dict[str, str]:
    """The hidden fields (CSRF token, nonce) of the form that posts to `action`."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    start = page.text.index(f'action="{action}"')
    form = page.text[start : page.text.index("</form>", start)]
    fields = {"csrf_token": TOKEN.search(form).group(1)}  # type: ignore[union-attr]
    if nonce := NONCE.search(form):
        fields["nonce"] = nonce.group(1)
    return fields


def issue(client: FlaskClient, world: World, reference: str = "dossier-1", **extra: str) -> Any:
    hidden = form_of(client, "/issue", "/issue")
    body = {"program_id": world.program_id, "beneficiary_ref": reference, **hidden, **extra}
    return client.post("/issue", data=body)


def text(response: Any) -> str:
    return html.unescape(response.text)


def test_a_visitor_is_sent_to_sign_in_and_another_role_is_refused(world: World) -> None:
    answer = world.client.get("/issue")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/login?next=/issue")
    sign_in(world, "auditor")
    assert world.client.get("/issue").status_code == 403
    assert world.client.get(f"/issue/carnets/{uuid.uuid4()}.pdf").status_code == 403


def test_the_form_lists_the_organisations_programmes_in_french(world: World) -> None:
    sign_in(world)
    page = world.client.get("/issue")
    assert page.status_code == 200
    body = text(page)
    assert '<html lang="fr">' in body
    assert "Pass Numérique Haute-Vienne" in body and world.program_id in body
    assert "Carnet complet de 10 chèques de 10,00\u00a0€" in body
    for field in ("program_id", "beneficiary_ref", "size", "search_ref", "activation_ref"):
        assert f'<label for="{field}">' in body
    assert body.count('name="csrf_token"') == 4  # issue, search, activation, sign out
    assert "Content-Security-Policy" in page.headers
    assert page.headers["Cache-Control"] == "no-store"


def test_issuing_a_booklet_shows_it_with_its_pdf_and_the_venues(world: World) -> None:
    sign_in(world)
    answer = issue(world.client, world, size="4")
    assert answer.status_code == 303
    location = answer.headers["Location"]
    booklet_id = re.search(r"/issue/carnets/([0-9a-f-]{36})", location).group(1)  # type: ignore[union-attr]
    page = world.client.get(location)
    body = text(page)
    assert page.status_code == 200
    assert "Le carnet est émis." in body and 'role="status"' in body
    assert "4, pour 40,00\u00a0€ en tout" in body
    assert "4 valables" in body
    assert f'action="/issue/carnets/{booklet_id}.pdf"' in body
    # The organisation of the test world has no location: the programme's venues by name.
    assert "L'adresse de votre structure n'est pas enregistrée" in body
    assert "Médiathèque francophone</strong><br>" in body
    booklet = world.client.get(f"/v1/booklets/{booklet_id}", headers=world.headers("issuer")).json
    assert len(booklet["vouchers"]) == 4
    action = f"/issue/carnets/{booklet_id}.pdf"
    hidden = form_of(world.client, location, action)
    pdf = world.client.post(action, data={"titulaire": "Mme Dupont", **hidden})
    assert pdf.status_code == 200
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert pdf.headers["Cache-Control"] == "no-store"
    assert "attachment" in pdf.headers["Content-Disposition"]
    assert world.client.get(action).data.startswith(b"%PDF")  # a plain link works too
    assert world.client.post(action, data={"titulaire": "x"}).status_code == 400  # no token


def test_the_booklet_page_lists_the_venues_near_the_organisation(world: World) -> None:
    admin = world.headers("admin")
    moved = world.client.patch(
        f"/v1/organisations/{world.organisation_id}",
        json={
            "address": "1 rue du Clos",
            "postcode": "87000",
            "latitude": 45.83,
            "longitude": 1.26,
        },
        headers=admin,
    )
    assert moved.status_code == 200, moved.json
    sign_in(world)
    page = world.client.get(issue(world.client, world).headers["Location"])
    body = text(page)
    assert "Médiathèque francophone" in body and "à\u00a00,7\u00a0km" in body
    assert "Atelier ordinateur" in body
    assert "Clic Saint-Junien" not in body  # not affiliated to the programme


def test_a_form_sent_twice_issues_one_booklet(world: World) -> None:
    sign_in(world)
    hidden = form_of(world.client, "/issue", "/issue")
    body = {"program_id": world.program_id, "beneficiary_ref": "dossier-2", **hidden}
    first = world.client.post("/issue", data=body)
    second = world.client.post("/issue", data=body)
    assert first.status_code == second.status_code == 303
    same = re.compile(r"/issue/carnets/[0-9a-f-]{36}")
    assert same.search(first.headers["Location"]).group(0) == same.search(  # type: ignore[union-attr]
        second.headers["Location"]
    ).group(0)  # type: ignore[union-attr]
    assert "fait=deja-emis" in second.headers["Location"]
    assert "un seul carnet a été émis" in text(world.client.get(second.headers["Location"]))
    listed = world.client.get("/v1/booklets", headers=world.headers("issuer")).json["items"]
    assert len(listed) == 1
    # The same form for someone else: refused, in French, and nothing issued.
    other = world.client.post("/issue", data={**body, "beneficiary_ref": "dossier-3"})
    assert other.status_code == 422
    assert "Ce formulaire a déjà servi pour une autre demande" in text(other)
    assert len(world.client.get("/v1/booklets", headers=world.headers("issuer")).json["items"]) == 1


def test_a_badly_filled_form_says_which_field_and_issues_nothing(world: World) -> None:
    sign_in(world)
    answer = issue(world.client, world, reference="  ", size="99")
    assert answer.status_code == 400
    body = text(answer)
    assert 'role="alert"' in body
    assert "Indiquez la référence du dossier de la personne." in body
    assert "de 1 à 50" in body
    assert 'aria-invalid="true"' in body and 'aria-describedby="size-aide size-erreur"' in body
    answer = issue(world.client, world, program_id=str(uuid.uuid4()))
    assert "Choisissez un programme dans la liste." in text(answer)
    assert world.client.get("/v1/booklets", headers=world.headers("issuer")).json["items"] == []


def test_refusals_are_said_in_french_and_change_nothing(world: World) -> None:
    sign_in(world)
    # The cap is 20 vouchers a person: two booklets of 10, then the third is refused.
    assert issue(world.client, world, reference="dossier-4").status_code == 303
    assert issue(world.client, world, reference="dossier-4").status_code == 303
    refused = issue(world.client, world, reference="dossier-4")
    assert refused.status_code == 409
    assert "a déjà reçu le nombre maximal de chèques" in text(refused)
    assert 'value="dossier-4"' in refused.text  # the form keeps what was typed
    assert len(world.client.get("/v1/booklets", headers=world.headers("issuer")).json["items"]) == 2


def test_a_form_without_its_csrf_token_is_refused(world: World) -> None:
    sign_in(world)
    hidden = form_of(world.client, "/issue", "/issue")
    answer = world.client.post(
        "/issue",
        data={"program_id": world.program_id, "beneficiary_ref": "x", "nonce": hidden["nonce"]},
    )
    assert answer.status_code == 400
    assert world.client.get("/v1/booklets", headers=world.headers("issuer")).json["items"] == []


def test_finding_a_persons_booklets_by_reference(world: World) -> None:
    sign_in(world)
    issue(world.client, world, reference="dossier-5", size="2")
    issue(world.client, world, reference="dossier-6", size="3")
    hidden = form_of(world.client, "/issue", "/issue/recherche")
    found = world.client.post(
        "/issue/recherche",
        data={"beneficiary_ref": "dossier-5", "csrf_token": hidden["csrf_token"]},
    )
    body = text(found)
    assert found.status_code == 200
    assert "1 carnet pour la référence « dossier-5 »" in body
    assert "2 valables" in body and "3 valables" not in body
    assert "<caption>" in body and '<th scope="col">' in body
    none = world.client.post(
        "/issue/recherche", data={"beneficiary_ref": "personne", "csrf_token": hidden["csrf_token"]}
    )
    assert "Aucun carnet pour la référence « personne »" in text(none)
    listed = text(world.client.get("/issue/carnets"))
    assert listed.count("Ouvrir") == 2


def test_cancelling_a_lost_booklet_then_reissuing_it(world: World) -> None:
    sign_in(world)
    location = issue(world.client, world, reference="dossier-7", size="3").headers["Location"]
    page_path = location.split("?")[0]
    action = f"{page_path}/annulation"
    hidden = form_of(world.client, page_path, action)
    # Without the confirmation box: refused, nothing cancelled.
    unconfirmed = world.client.post(action, data={"reason": "perdu", **hidden})
    assert unconfirmed.status_code == 400
    assert "Cochez la case pour confirmer" in text(unconfirmed)
    assert "3 valables" in text(world.client.get(page_path))
    cancelled = world.client.post(action, data={"reason": "perdu", "confirm": "oui", **hidden})
    assert cancelled.status_code == 303 and "fait=annule" in cancelled.headers["Location"]
    body = text(world.client.get(cancelled.headers["Location"]))
    assert "Le carnet est annulé" in body and "3 annulés" in body and "(perdu)" in body
    assert "Télécharger le PDF" not in body  # a cancelled booklet is not printed again
    again = world.client.post(action, data={"reason": "perdu", "confirm": "oui", **hidden})
    assert again.status_code == 409 and "Ce carnet est déjà annulé" in text(again)
    # The replacement: keyed by its form's nonce, so a second send reissues nothing more.
    reissue = f"{page_path}/remplacement"
    keyed = form_of(world.client, page_path, reissue)
    first = world.client.post(reissue, data=keyed)
    assert first.status_code == 303 and "fait=remplace" in first.headers["Location"]
    new_page = text(world.client.get(first.headers["Location"]))
    assert "Le carnet de remplacement est émis." in new_page and "3 valables" in new_page
    assert "le carnet perdu" in new_page
    second = world.client.post(reissue, data=keyed)
    assert second.status_code == 303 and second.headers["Location"] == first.headers["Location"]
    refused = world.client.post(reissue, data={**keyed, "nonce": uuid.uuid4().hex})
    assert refused.status_code == 409 and "Ce carnet a déjà été remplacé" in text(refused)


def test_another_organisations_booklet_is_not_found(world: World) -> None:
    booklet_id = world.issue("dossier-8").json["id"]
    admin = world.headers("admin")
    other = world.client.post(
        "/v1/organisations",
        json={"name": "Mairie de Panazol", "kind": "mairie", "programs": [world.program_id]},
        headers=admin,
    ).json
    database = world.client.application.extensions["voucher_service"].database
    user = create_user(
        database, "autre@example.fr", "issuer", "un mot de passe assez long", now(),
        organisation_id=other["id"],
    )  # fmt: skip
    with world.client.session_transaction() as session:
        session["uid"], session["gen"], session["seen"] = user["id"], 0, int(now().timestamp())
    page = world.client.get(f"/issue/carnets/{booklet_id}")
    assert page.status_code == 404 and "introuvable" in text(page)
    pdf = world.client.get(f"/issue/carnets/{booklet_id}.pdf")
    assert pdf.status_code == 404 and pdf.mimetype == "text/html"
    assert pdf.headers["Cache-Control"] == "no-store"


def test_activating_a_pre_printed_booklet(world: World) -> None:
    made = world.client.post(
        "/v1/booklet-batches",
        json={"program_id": world.program_id, "count": 1, "size": 2},
        headers=world.headers("issuer", uuid.uuid4().hex),
    )
    assert made.status_code == 201, made.json
    booklet_id = made.json["booklets"][0]["id"]
    sign_in(world)
    page = text(world.client.get(f"/issue/carnets/{booklet_id}"))
    assert "2 pas encore remis" in page and "Remettre ce carnet pré-imprimé" in page
    hidden = form_of(world.client, "/issue", "/issue/activation")
    wrong = world.client.post(
        "/issue/activation",
        data={"booklet_id": "pas-un-numero", "beneficiary_ref": "dossier-9", **hidden},
    )
    assert wrong.status_code == 400 and "Recopiez le numéro du carnet" in text(wrong)
    done = world.client.post(
        "/issue/activation",
        data={"booklet_id": booklet_id.upper(), "beneficiary_ref": "dossier-9", **hidden},
    )
    assert done.status_code == 303 and "fait=active" in done.headers["Location"]
    assert "2 valables" in text(world.client.get(done.headers["Location"]))
    twice = world.client.post(
        "/issue/activation",
        data={"booklet_id": booklet_id, "beneficiary_ref": "dossier-9", **hidden},
    )
    assert twice.status_code == 409
    assert "Ce carnet a déjà été remis à un bénéficiaire" in text(twice)
