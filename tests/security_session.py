"""A whole session of signed links against a real server, for the tests that look for
``sig`` values where none may be: exports whole, compressed, cut and refused, a job
followed and downloaded, the admin's pages, and last the user's links revoked."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from stream_exports.links.signing import sign_url


@dataclass
class Session:
    """What a session sent and saw: every ``sig`` value, and the admin's pages."""

    base: str
    user: Any
    sigs: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)

    def sign(self, path: str, params: dict[str, Any] | None = None, **options: Any) -> str:
        url = sign_url(path, self.user, params, **options)
        self.sigs.append(parse_qs(urlsplit(url).query)["sig"][0])
        return self.base + url

    def forms(self) -> set[str]:
        """Each ``sig`` value as it may be written: as is, and URL-encoded."""
        return {form for sig in self.sigs for form in (sig, quote(sig, safe=""), quote(sig))}


def run(
    session: Session,
    session_cookie: str,
    failing: tuple[dict[str, Any], Callable[[], None]] | None = None,
) -> Session:
    """Every kind of request with a ``sig`` (``failing``: the parameters of an export that
    fails after its first chunk once the function is called), the admin's pages with
    ``session_cookie`` (a superuser's). Statuses are checked: a session that went wrong
    proves nothing."""
    export, csv = "/exports/orders.ndjson", "/exports/orders.csv"
    with httpx.Client(timeout=60, headers={"Accept-Encoding": "identity"}) as client:
        gzip = {"Accept-Encoding": "gzip"}
        whole = client.get(session.sign(export, {"limit": 50}), headers=gzip)
        assert whole.status_code == 200 and whole.text.count("\n") == 51
        assert client.get(session.sign(csv, {"limit": 20})).status_code == 200
        with client.stream("GET", session.sign(export, {"fields": "id"})) as cut:
            next(cut.iter_raw())  # then hang up
        if failing is not None:
            params, break_it = failing
            with client.stream("GET", session.sign(export, params)) as broken:
                chunks = broken.iter_raw()
                body = next(chunks)
                break_it()
                assert b'"status":"error"' in body + b"".join(chunks)
        tampered = session.sign(export, {"limit": 5}).replace("limit=5", "limit=6")
        assert client.get(tampered).status_code == 403
        session.sigs.append("forged-signature-value")
        assert client.get(f"{session.base}{export}?sig=forged-signature-value").status_code == 403
        assert client.get(session.sign("/exports/nothing.ndjson")).status_code == 404
        assert client.post(session.sign(export, {"limit": 1})).status_code == 403  # CSRF
        expired = session.sign(export, {"limit": 1}, expires=1)
        time.sleep(1.1)
        assert client.get(expired).status_code == 403
        assert client.get(session.sign(export, {"paid": "maybe"})).status_code == 400

        job = client.post(session.sign("/exports/orders/jobs", {"limit": 30}))
        assert job.status_code == 202, job.text
        links = job.json()["links"]
        session.sigs += [parse_qs(urlsplit(link).query)["sig"][0] for link in links.values()]
        with client.stream("GET", session.base + links["events"]) as events:
            assert b"event: done" in b"".join(events.iter_raw())
        assert client.get(session.base + links["log"] + "&follow=0").status_code == 200
        assert client.get(session.base + links["download"]).status_code == 200
        assert client.get(session.base + links["self"]).status_code == 200
        assert (
            client.post(session.sign("/exports/orders/jobs", {"colour": "red"})).status_code == 400
        )

        admin = {"Cookie": session_cookie}
        job_id = job.json()["id"]
        pasted = session.sigs[0]  # a link's sig pasted into an admin URL
        for page in (
            "/admin/stream_exports/auditrecord/",
            f"/admin/stream_exports/auditrecord/?sig={quote(pasted)}",
            f"/admin/stream_exports/exportjob/{job_id}/change/",
            "/admin/stream_exports/linkrevocation/",
        ):
            response = client.get(session.base + page, headers=admin, follow_redirects=True)
            assert response.status_code == 200, (page, response.status_code)
            session.pages.append(response.text)

        old = session.sign(export, {"limit": 1})
        assert client.post(session.sign("/exports/links/revoke")).status_code == 200
        assert client.get(old).status_code == 403
    return session
