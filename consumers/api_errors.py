"""Error answers of the web edge in Chinese with the English beside it.

FastAPI's own 422 lists pydantic's English (``Field required``, ``String should have at least
1 character``); the routes' own errors are mostly bilingual already. Every 4xx answer passes
through here: validation problems are worded by ``schemas.validation_text`` (the same words as
``ztc import``), any English-only message gets the Chinese for its status in front.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from schemas.validation_text import field_label, problem_text

STATUS_WORDS = {
    400: "请求无效",
    401: "未认证",
    403: "无权操作",
    404: "不存在",
    405: "不支持此方法",
    409: "与工单当前状态冲突",
    413: "请求过大",
    415: "不支持的内容类型",
    422: "请求内容有误",
    429: "请求过于频繁",
}


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def readable_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each problem as ``{"loc", "type", "msg"}``, ``msg`` naming the field and the problem in
    Chinese with the English beside it; a message already in Chinese is kept."""
    out: list[dict[str, Any]] = []
    for error in errors:
        loc = [p if isinstance(p, int) else str(p) for p in error.get("loc", ())]
        given = str(error.get("msg", ""))
        said = given if _has_chinese(given) else problem_text(error)
        out.append({"loc": loc, "type": str(error.get("type", "")), "msg": f"{field_label(loc)}: {said}"})
    return out


def bilingual(status: int, detail: str) -> str:
    """``不存在 / not found``: the Chinese for the status in front of an English-only message."""
    if _has_chinese(detail) or status not in STATUS_WORDS:
        return detail
    return f"{STATUS_WORDS[status]} / {detail}"


async def _validation_failed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": readable_errors(exc.errors())}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if isinstance(exc.detail, list):
        exc = HTTPException(exc.status_code, readable_errors(exc.detail), exc.headers)
    elif isinstance(exc.detail, str):
        exc = HTTPException(exc.status_code, bilingual(exc.status_code, exc.detail), exc.headers)
    return await http_exception_handler(request, exc)


def add_error_handlers(app: FastAPI) -> None:
    """Every 422 and every English-only 4xx answered in Chinese with the English beside it."""
    app.add_exception_handler(RequestValidationError, _validation_failed)
    app.add_exception_handler(HTTPException, _http_error)
