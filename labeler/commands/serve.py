"""``labeler serve``: the annotation web UI and the /api/v1 JSON API, served by waitress."""

from __future__ import annotations

import ipaddress
import logging

import click

from labeler.commands._common import pass_workspace


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def quiet_queue_log() -> None:
    """Silence waitress's "Task queue depth is N": it warns whenever more requests arrive at
    once than threads are idle, which one user's page load (thumbnails, image, boxes) does all
    the time; it is not a problem, and 31 such lines hid the ones that were."""
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)


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
@pass_workspace
def serve(ws, host: str, port: int, threads: int) -> None:
    """Serve the workspace's annotation UI at http://HOST:PORT/ (loopback only by default)."""
    from waitress.server import create_server

    from labeler.web import create_app

    app = create_app({"WORKSPACE": ws})
    quiet_queue_log()
    try:
        server = create_server(app, host=host, port=port, threads=threads, ident="labeler")
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from exc
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{server.effective_port}/"
    if not _is_loopback(host):
        click.echo(
            f"Warning: listening on {host}: anyone who can reach this machine can edit "
            "the labels (there are no user accounts).",
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
