"""``/health``: liveness, no key needed."""

from __future__ import annotations

from fastapi import APIRouter, Request

from healthnn import __version__
from healthnn.serve.context import mark, server_of
from healthnn.serve.schemas import Health

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health)
async def health(request: Request) -> Health:
    """Liveness: no key needed."""
    mark(request, "/health")
    return Health(models=len(server_of(request).models), version=__version__)
