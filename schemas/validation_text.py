"""Validation problems in words a person reads: Chinese first, English alongside.

Pure: pydantic's error dictionaries in, one short phrase per problem out. Used by
``ztc import`` (one line per bad row) and by the web edge's 422 answers, so a
clerk reads the same words in both places.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

FIELD_LABELS: Mapping[str, str] = {
    "title": "标题",
    "text": "诉求内容",
    "enterprise_name": "企业名称",
    "credit_code": "统一社会信用代码",
    "contact": "联系人",
    "street": "所在街道",
    "project_name": "项目名称",
    "channel": "渠道",
    "channel_message_id": "渠道消息号",
    "submitted_at": "提交时间",
    "attachments": "附件",
    "actor": "操作人",
    "note": "说明",
    "reason": "理由",
    "question": "问题",
    "content": "补充内容",
    "resolution": "办结说明",
    "rating": "评价",
    "comment": "评价意见",
    "department": "部门",
    "lead": "主办部门",
    "co": "协办部门",
    "departments": "部门",
    "by": "延期至",
    "kind": "类别",
    "into": "保留工单",
    "override_reason": "强制办结理由",
    "suggest": "建议部门",
    "body": "请求体",
    "query": "查询参数",
    "path": "路径参数",
    "header": "请求头",
}
"""The Chinese name of every field a person may get wrong; others are shown by their code."""

_SIMPLE: Mapping[str, str] = {
    "missing": "必填 is required",
    "extra_forbidden": "不认识的字段 unknown field",
    "string_pattern_mismatch": "格式不对 wrong format",
    "json_invalid": "不是合法的 JSON / not valid JSON",
    "model_attributes_type": "应为对象 expected an object",
    "dict_type": "应为对象 expected an object",
    "model_type": "应为对象 expected an object",
    "list_type": "应为列表 expected a list",
    "tuple_type": "应为列表 expected a list",
    "string_type": "应为文字 expected text",
    "int_type": "应为整数 expected a whole number",
    "int_parsing": "应为整数 expected a whole number",
    "float_type": "应为数字 expected a number",
    "float_parsing": "应为数字 expected a number",
    "bool_type": "应为是/否 expected true or false",
    "bool_parsing": "应为是/否 expected true or false",
    "timezone_aware": "时间须带时区 the time needs an offset, e.g. +08:00",
    "datetime_type": "不是有效时间 not a date-time",
    "datetime_parsing": "不是有效时间 not an ISO date-time (e.g. 2026-11-28T09:30+08:00)",
    "datetime_from_date_parsing": "不是有效时间 not an ISO date-time (e.g. 2026-11-28T09:30+08:00)",
}


def field_label(loc: Sequence[Any], labels: Mapping[str, str] = FIELD_LABELS) -> str:
    """``诉求内容 text`` for ``("body", "text")``; list positions as ``第 2 项``."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header") or len(loc) == 1]
    if not parts:
        return "(整体 whole input)"
    shown = []
    for part in parts:
        if part.isdigit():
            shown.append(f"第 {int(part) + 1} 项")
        else:
            label = labels.get(part)
            shown.append(f"{label} {part}" if label else part)
    return " · ".join(shown)


def problem_text(error: Mapping[str, Any]) -> str:
    """One pydantic error as a Chinese phrase with the English beside it (no field name)."""
    kind = str(error.get("type", ""))
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    if kind in _SIMPLE:
        return _SIMPLE[kind]
    if kind == "string_too_short":
        least = int(ctx.get("min_length", 1))
        if least <= 1:
            return "不能为空 must not be empty"
        return f"太短，至少 {least} 字 too short (at least {least})"
    if kind == "string_too_long":
        most = ctx.get("max_length", "?")
        return f"太长，最多 {most} 字 too long (at most {most} characters)"
    if kind in ("too_short", "too_long"):
        return f"数量不对 wrong number of items ({_english(error)})"
    if kind in ("enum", "literal_error"):
        expected = str(ctx.get("expected", "")).replace("'", "")
        return f"取值无效，可选 not one of: {expected}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"超出范围 out of range ({_english(error)})"
    return f"取值无效 invalid: {_english(error)}"


def _english(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    return " ".join(message.split())[:200]


def problem_lines(errors: Sequence[Mapping[str, Any]], labels: Mapping[str, str] = FIELD_LABELS) -> list[str]:
    """``诉求内容 text: 不能为空 must not be empty`` for every error, in order, without repeats."""
    lines: list[str] = []
    for error in errors:
        line = f"{field_label(tuple(error.get('loc', ())), labels)}: {problem_text(error)}"
        if line not in lines:
            lines.append(line)
    return lines


def problems_in_one_line(
    errors: Sequence[Mapping[str, Any]], labels: Mapping[str, str] = FIELD_LABELS
) -> str:
    """Every problem of one input on one line, separated by ``；``."""
    return "；".join(problem_lines(errors, labels))
