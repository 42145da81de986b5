"""The HTTP egress proxy: outbound request bodies decided as ``export`` operations.

- :mod:`lacuna.proxy.bodies`: a body (JSON, NDJSON, CSV, form, multipart, text) as fields;
- :mod:`lacuna.proxy.fingerprints`: keyed hashes of classified values governed reads have seen;
- :mod:`lacuna.proxy.gate`: classify a request's payload and decide it through the Governor;
- :mod:`lacuna.proxy.ca`: the local certificate authority clients trust for HTTPS;
- :mod:`lacuna.proxy.server`: the asyncio proxy itself (``lacuna proxy``).

See docs/proxy.md.
"""
