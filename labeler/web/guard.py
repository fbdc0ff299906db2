"""Checks every request passes before anyone looks at who sent it.

- DNS rebinding: a page on ``attacker.example`` whose name later resolves to 127.0.0.1 can
  make the browser talk to this server as a same-origin site (it could read the CSRF token).
  Such requests carry ``Host: attacker.example``, so only the names the server answers to
  are accepted (400 otherwise): the bound address, ``localhost``/``127.0.0.1``/``[::1]``,
  any IP literal (a browser sends one only for a page really loaded from that address)
  and the ``--allowed-host`` names.
- A write whose ``Origin`` (or, without one, ``Referer``) is another site is refused (403),
  on top of the CSRF token: a stolen or leaked token is still useless from elsewhere.
- Ids in the URL past what the database stores (2^63) are 404 naming the parameter,
  before the auth check would send them to the database.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from flask import Flask, current_app, request

from labeler.web.errors import MAX_ID, ApiError

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = frozenset({"0.0.0.0", "::", ""})
SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


def allowed_hosts(*, bound: str | None = None, extra: Iterable[str] = ()) -> frozenset[str]:
    """The host names a server bound to ``bound`` answers to (lower case, no port)."""
    names = set(LOOPBACK_NAMES) | {h.strip().lower().strip("[]") for h in extra if h.strip()}
    if bound is not None and bound not in WILDCARDS:
        names.add(bound.lower().strip("[]"))
    elif bound is not None:  # every interface: the machine's own names too
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    return frozenset(names)


def _host_name(netloc: str) -> str:
    """``Host`` header or URL netloc -> lower-case name without port or brackets."""
    return (urlsplit(f"//{netloc}").hostname or "").lower()


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return False
    return True


def host_allowed(name: str, allowed: frozenset[str]) -> bool:
    return name in allowed or _is_ip(name)


def _check_host() -> None:
    allowed = current_app.config["ALLOWED_HOSTS"]
    raw = request.headers.get("Host", "")
    if not host_allowed(_host_name(raw), allowed):
        raise ApiError(
            400,
            f"Host header {raw[:100]!r} is not a name this server answers to (a DNS "
            "rebinding attempt, or a missing `labeler serve --allowed-host NAME`)",
            code="bad_host",
        )


def _check_origin() -> None:
    origin = request.headers.get("Origin")
    source, sent = ("Origin", origin) if origin else ("Referer", request.headers.get("Referer"))
    if not sent:
        return  # scripts and the simulator send neither; the CSRF token still applies
    name = "" if sent == "null" else (urlsplit(sent).hostname or "").lower()
    same = sent != "null" and urlsplit(sent).netloc.lower() == request.host.lower()
    # Another port on loopback is another site (any local dev server); a name given with
    # --allowed-host is ours even when a reverse proxy rewrote the Host header.
    named = name not in LOOPBACK_NAMES and name in current_app.config["ALLOWED_HOSTS"]
    if not (same or named):
        raise ApiError(
            403,
            f"{source} {sent[:100]!r} is another site: writes are accepted only from pages "
            "of this server",
            code="foreign_origin",
        )


def _check_path_ids() -> None:
    for name, value in (request.view_args or {}).items():
        if isinstance(value, int) and not 0 <= value <= MAX_ID:
            raise ApiError(404, f"{name} {value} is out of range: ids are below 2^63")


def init_guard(app: Flask, *, hosts: frozenset[str] | None = None) -> None:
    """Register the checks; ``hosts`` (or the ``ALLOWED_HOSTS`` config) default to loopback."""
    app.config.setdefault("ALLOWED_HOSTS", hosts or allowed_hosts())
    app.config["ALLOWED_HOSTS"] = frozenset(app.config["ALLOWED_HOSTS"])

    @app.before_request
    def _guard() -> None:
        _check_host()
        if request.method not in SAFE_METHODS:
            _check_origin()
        _check_path_ids()
