"""Classify and decide: the same answers as in-process (``lacuna.classify``,
``Governor.decide``)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")
