"""OPA REST API routes (see lacuna.server.opa)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
