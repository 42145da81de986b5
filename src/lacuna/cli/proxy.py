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
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    config: ConfigOption = None,
) -> None:
    """Run the egress proxy: request bodies carrying classified data are decided as exports."""
    if ctx.invoked_subcommand is not None:
        return
    from lacuna.config import load_config
    from lacuna.proxy.server import ProxyServer, run

    loaded = load_config(config)

    def ready(server: ProxyServer) -> None:
        print(f"lacuna proxy listening on http://{server.host}:{server.port} "
              f"(mode {loaded.mode}; CA: {server.ca.cert_path})", flush=True)

    run(loaded, host=host, port=port, ready=ready)


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
