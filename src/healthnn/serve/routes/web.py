"""The clinicians' web page (``/``) and its static files."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from healthnn.serve.context import mark

router = APIRouter()
STATIC = resources.files("healthnn.serve") / "static"


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(request: Request) -> HTMLResponse:
    mark(request, "/")
    return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))


def mount_static(app: FastAPI) -> None:
    """Serve ``static/`` (the page's script and style) under ``/static``."""
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
