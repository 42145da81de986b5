"""Audit, exceptions and lineage over HTTP."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")
