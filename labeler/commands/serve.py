"""``labeler serve``: the annotation web UI and the /api/v1 JSON API, served by waitress."""

from __future__ import annotations

import logging

import click

from labeler.commands._common import pass_workspace


def _is_loopback(host: str) -> bool:
    from labeler.web.auth import is_loopback

    return is_loopback(host)


def quiet_queue_log() -> None:
    """Silence waitress's "Task queue depth is N": it warns whenever more requests arrive at
    once than threads are idle, which one user's page load (thumbnails, image, boxes) does all
    the time; it is not a problem, and 31 such lines hid the ones that were."""
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)


def log_requests() -> None:
    """One JSON line per request on stderr (:mod:`labeler.web.ops`): method, path, status,
    ms, user; journald or a log shipper takes it from there."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("labeler.requests")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


CONNECTION_LIMIT = 2000  # open connections (waitress's default, 100, fell to 120 slowloris)
IDLE_SECONDS = 30  # a connection that sends nothing for this long is closed
RESERVED_FILES = 256  # descriptors kept for the database, images and logs


def connection_settings() -> dict:
    """waitress settings that keep a few hundred slow or half-sent connections (slowloris)
    from starving real requests: they cost a socket each, not a worker thread, so allow
    many (poll(), not select()'s 1,024 descriptors; the open-files limit raised to allow
    them) and drop idle ones sooner than waitress's two minutes. A determined attacker
    with thousands of sockets needs a reverse proxy in front (docs/operations.md)."""
    import resource

    want = CONNECTION_LIMIT + RESERVED_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        soft = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    room = want if soft == resource.RLIM_INFINITY else soft
    return {
        "connection_limit": max(min(room - RESERVED_FILES, CONNECTION_LIMIT), 100),
        "channel_timeout": IDLE_SECONDS,
        "asyncore_use_poll": True,
    }


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port", default=5000, show_default=True, type=click.IntRange(0, 65535),
    help="Port (0: any free port).",
)  # fmt: skip
@click.option(
    "--threads", default=4, show_default=True, type=click.IntRange(1, 64),
    help="Request worker threads.",
)  # fmt: skip
@click.option(
    "--trusted-proxy", metavar="ADDR", default=None,
    help="A TLS reverse proxy at ADDR: its X-Forwarded-Proto/-For headers are believed "
    "(the session cookie is then Secure over HTTPS).",
)  # fmt: skip
@click.option(
    "--allowed-host", "allowed", metavar="NAME", multiple=True,
    help="Another Host name the server answers to (its public name behind a reverse "
    "proxy); repeatable. Other names get 400 (DNS rebinding).",
)  # fmt: skip
@pass_workspace
def serve(
    ws, host: str, port: int, threads: int, trusted_proxy: str | None, allowed: tuple[str, ...]
) -> None:
    """Serve the workspace's annotation UI at http://HOST:PORT/ (loopback only by default)."""
    from waitress.server import create_server

    from labeler.accounts import has_accounts
    from labeler.web import create_app
    from labeler.web.guard import allowed_hosts

    if not _is_loopback(host) and not has_accounts(ws):
        raise click.ClickException(
            f"refusing to listen on {host}: this workspace has no user accounts, so anyone "
            "who reaches it could edit the labels. Add one first with `labeler user add NAME "
            "--role admin` (then log in at /login), or serve on 127.0.0.1."
        )
    hosts = allowed_hosts(bound=host, extra=allowed)
    app = create_app({"WORKSPACE": ws, "ALLOWED_HOSTS": hosts})
    quiet_queue_log()
    log_requests()
    try:
        proxy = {} if trusted_proxy is None else {
            "trusted_proxy": trusted_proxy,
            "trusted_proxy_headers": {"x-forwarded-proto", "x-forwarded-for"},
        }  # fmt: skip
        server = create_server(
            app, host=host, port=port, threads=threads, ident="labeler",
            **connection_settings(), **proxy,
        )  # fmt: skip
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from exc
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{server.effective_port}/"
    if not _is_loopback(host):
        click.echo(
            f"Listening on {host}: everyone needs a login or an API token. Use HTTPS (a "
            "reverse proxy) so passwords and cookies do not cross the network in clear.",
            err=True,
        )
    try:  # from the URL line on: a Ctrl+C right after it must still stop cleanly
        click.echo(f"Labeler is serving {ws.root} at {url}  (Ctrl+C to stop)", nl=True)
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        app.extensions["labeler.jobs"].stop()
