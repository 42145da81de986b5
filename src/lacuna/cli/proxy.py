"""``lacuna proxy``: the HTTP egress proxy (docs/proxy.md), and ``lacuna proxy ca``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=False, add_completion=False)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Path to lacuna.yaml (default: search).")
]


@app.callback(invoke_without_command=True)
def proxy(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free one).")] = 8080,
    host: Annotated[str, typer.Option(help=(
        "Interface to listen on. Another than loopback lets anyone who reaches it send as "
        "the configured user, to this machine's internal hosts too: firewall it."))
    ] = "127.0.0.1",
    config: ConfigOption = None,
) -> None:
    """Run the egress proxy: requests carrying classified data (in the body, query, headers,
    path or host name) are decided as exports."""
    if ctx.invoked_subcommand is not None:
        return
    from lacuna.config import load_config
    from lacuna.proxy.server import ProxyServer, run

    loaded = load_config(config)
    if not _loopback(host):
        typer.echo(f"warning: the proxy listens on {host}, not only on loopback: anyone who "
                   f"reaches it sends as {loaded.user.id}, and reaches the hosts internal to "
                   "this machine (destinations.internal_hosts); firewall the port", err=True)

    def ready(server: ProxyServer) -> None:
        print(f"lacuna proxy listening on http://{server.host}:{server.port} "
              f"(mode {loaded.mode}; CA: {server.ca.cert_path})", flush=True)

    run(loaded, host=host, port=port, ready=ready)


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@app.command("ca")
def export_ca(
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the CA certificate (PEM) here; default: standard output.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Export the proxy's CA certificate for clients to trust (created on first use)."""
    from lacuna.config import load_config
    from lacuna.proxy.ca import CertificateAuthority, ca_folder

    ca = CertificateAuthority(ca_folder(load_config(config).proxy.ca_dir))
    pem = ca.pem()
    if output is None:
        sys.stdout.write(pem.decode())
        return
    output.write_bytes(pem)
    typer.echo(f"wrote the proxy's CA certificate to {output}", err=True)
