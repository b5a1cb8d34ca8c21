"""``/deid``: remove protected health information from a note."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request

from healthnn.serve import work
from healthnn.serve.context import ERRORS, authorize, server_of
from healthnn.serve.keys import ApiKey
from healthnn.serve.schemas import DeidRequest, DeidResponse

router = APIRouter(tags=["privacy"])


@router.post("/deid", response_model=DeidResponse, responses=ERRORS)
async def deid(request: Request, body: DeidRequest,
               key: ApiKey = Depends(authorize("deid", "/deid"))) -> DeidResponse:
    """Remove protected health information from a note (tag: [NAME]; mask: ****;
    surrogate: consistent fake values, per ``patient``)."""
    srv = server_of(request)
    srv.input_hash(request, body.text.encode("utf-8", "surrogatepass"),
                   (body.patient or "").encode("utf-8", "surrogatepass"))
    if body.mode == "surrogate" and srv.work.secret_key is None:
        raise HTTPException(422, "surrogate mode needs a server started with --key-file; "
                            "use mode tag or mask")
    text, spans = await srv.heavy(work.deid, body.mode, body.text, body.patient)
    return DeidResponse(text=text, spans=spans)
