"""Authentication: single-user loopback mode, 401 once accounts exist, login and logout
(cookie flags, CSRF), bearer tokens (no CSRF), and X-Labeler-User no longer trusted."""

from __future__ import annotations

import pytest
from helpers import TEAM_PASSWORD, log_in, session_token

from labeler import accounts

V1 = "/api/v1"


# --- single-user mode ---------------------------------------------------------------------


def test_without_accounts_loopback_needs_no_login(web_app, demo_ws):
    client = web_app.test_client()
    info = client.get(f"{V1}/session").get_json()
    assert info["mode"] == "single-user" and info["role"] == "admin"
    assert info["user"] == demo_ws.user
    client.environ_base["HTTP_X_CSRF_TOKEN"] = info["csrf_token"]
    resp = client.post(f"{V1}/images/1/boxes", json={"label": "RBC", "x": 1, "y": 1, "w": 9,
                       "h": 9}, headers={"X-Labeler-User": "sim"})  # fmt: skip
    assert resp.status_code == 201
    assert resp.get_json()["created_by"] == "sim" == resp.get_json()["decided_by"]
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("address", ["10.0.0.5", "192.168.1.20", "2001:db8::1", "::ffff:10.0.0.5"])
def test_without_accounts_other_addresses_are_refused(web_app, address):
    client = web_app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    resp = client.get(f"{V1}/datasets")
    assert resp.status_code == 403
    assert "labeler user add NAME --role admin" in resp.get_json()["detail"]
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_without_accounts_every_loopback_address_is_served(web_app, address):
    client = web_app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    assert client.get(f"{V1}/datasets").status_code == 200


# --- accounts exist -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", [f"{V1}/session", f"{V1}/datasets", f"{V1}/images/1", f"{V1}/images/1/thumbnail"]
)
def test_api_needs_a_login_or_token(team_app, url):
    resp = team_app.test_client().get(url)
    assert resp.status_code == 401
    assert resp.get_json()["error"] == "unauthorized"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("url", ["/", "/datasets/1", "/images/1", "/team", "/completeness"])
def test_pages_send_to_the_login_page(team_app, url):
    resp = team_app.test_client().get(url)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login?next=")


def test_healthz_and_login_page_are_public(team_app):
    client = team_app.test_client()
    assert client.get("/healthz").get_json()["ok"] is True
    page = client.get("/login")
    assert page.status_code == 200 and b'name="password"' in page.data


def test_bearer_token_needs_no_csrf_and_the_header_name_is_ignored(team_app, team):
    client = team_app.test_client()
    headers = {**team.bearer("ann"), "X-Labeler-User": "mallory"}
    resp = client.post(f"{V1}/images/1/boxes", json={"label": "RBC", "x": 1, "y": 1, "w": 9,
                       "h": 9}, headers=headers)  # fmt: skip
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["created_by"] == "ann" and resp.get_json()["decided_by"] == "ann"
    info = client.get(f"{V1}/session", headers=headers).get_json()
    assert info == {**info, "user": "ann", "role": "annotator", "mode": "team"}


@pytest.mark.parametrize("auth", ["Bearer lbl_not-a-token", "Bearer ", "Basic YTpi"])
def test_bad_tokens_are_401(team_app, auth):
    resp = team_app.test_client().get(f"{V1}/datasets", headers={"Authorization": auth})
    assert resp.status_code == 401


def test_a_revoked_token_stops_working(team_app, team):
    client = team_app.test_client()
    assert client.get(f"{V1}/datasets", headers=team.bearer("bob")).status_code == 200
    accounts.revoke_token(team.ws, ref=team.tokens["bob"])
    assert client.get(f"{V1}/datasets", headers=team.bearer("bob")).status_code == 401


# --- login and logout ---------------------------------------------------------------------


def test_login_sets_a_safe_cookie_and_logout_ends_it(team_app):
    client = team_app.test_client()
    resp = log_in(client, "rita", TEAM_PASSWORD.format(name="rita"), next_url="/team")
    assert resp.status_code == 302 and resp.headers["Location"] == "/team"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert client.get(f"{V1}/session").get_json()["user"] == "rita"
    home = client.get("/")
    assert home.status_code == 200 and b"Log out" in home.data and b"rita" in home.data
    token = session_token(client)
    out = client.post("/logout", data={"csrf_token": token})
    assert out.status_code == 302 and out.headers["Location"] == "/login"
    assert client.get(f"{V1}/datasets").status_code == 401


def test_login_over_https_sets_a_secure_cookie(team_app):
    client = team_app.test_client()
    resp = log_in(client, "ann", base_url="https://localhost")
    assert resp.status_code == 302
    assert "Secure" in resp.headers["Set-Cookie"]


@pytest.mark.parametrize(("name", "password"), [("ann", "wrong-password"), ("nobody", "x" * 9),
                                                ("", "")])  # fmt: skip
def test_wrong_logins_are_401_and_log_nobody_in(team_app, name, password):
    client = team_app.test_client()
    resp = log_in(client, name, password)
    assert resp.status_code == 401 and b"Wrong name or password" in resp.data
    assert client.get(f"{V1}/datasets").status_code == 401


def test_login_needs_the_csrf_token(team_app):
    client = team_app.test_client()
    client.get("/login")
    form = {"name": "ann", "password": TEAM_PASSWORD.format(name="ann")}
    resp = client.post("/login", data=form)
    assert resp.status_code == 403
    assert client.get(f"{V1}/datasets").status_code == 401


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\\\evil"])
def test_login_never_redirects_off_site(team_app, target):
    resp = log_in(team_app.test_client(), "ann", TEAM_PASSWORD.format(name="ann"),
                  next_url=target)  # fmt: skip
    assert resp.headers["Location"] == "/"


def test_login_starts_a_new_session(team_app):
    import re

    client = team_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    anonymous_token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    anonymous_cookie = client.get_cookie("labeler_session").value
    log_in(client, "ann")
    assert client.get_cookie("labeler_session").value != anonymous_cookie
    assert session_token(client) != anonymous_token  # a token seen before login is void


def test_cookie_sessions_still_need_csrf(team_app):
    client = team_app.test_client()
    log_in(client, "ann", TEAM_PASSWORD.format(name="ann"))
    body = {"label": "RBC", "x": 1, "y": 1, "w": 9, "h": 9}
    refused = client.post(f"{V1}/images/1/boxes", json=body)
    assert refused.status_code == 403 and refused.get_json()["error"] == "csrf"
    ok = client.post(f"{V1}/images/1/boxes", json=body,
                     headers={"X-CSRF-Token": session_token(client)})  # fmt: skip
    assert ok.status_code == 201 and ok.get_json()["created_by"] == "ann"


def test_a_removed_users_session_ends_at_once(team_app, team):
    client = team_app.test_client()
    log_in(client, "bob", TEAM_PASSWORD.format(name="bob"))
    assert client.get(f"{V1}/datasets").status_code == 200
    accounts.remove_user(team.ws, name="bob")
    assert client.get(f"{V1}/datasets").status_code == 401
    assert client.get(f"{V1}/datasets", headers=team.bearer("bob")).status_code == 401
