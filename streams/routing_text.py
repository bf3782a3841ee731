"""The two texts routing reads from a submission: the rules' and the classifier's.

Rules match ``ticket_text`` (title, project and body, NFKC-normalised and lowered, as their keywords
are); the classifier reads ``model_text`` (title, "。", body) and normalises it itself, starting with
the same two steps. ``routing_texts`` folds the submission once for both: NFKC and lower-casing act
on each side of a "\\n" or a "。" alone (neither composes with a neighbour, is cased or is skipped by
the final-sigma rule: ``tests/unit/test_routing_text.py`` checks it against every BMP character), so
the classifier's folded text is the rules' text with the project line cut out, whenever every
character kept its place (one character in, one out).
"""

from __future__ import annotations

from schemas.events import TicketSubmitted
from streams.classifier_features import TITLE_SEPARATOR, char_nfkc, nfkc


def ticket_text(submission: TicketSubmitted) -> str:
    """The text rules are matched against: title, project and body, NFKC-normalised and lowered.

    The submission keeps what the enterprise wrote (full-width "ＡＢＣ", "，"); rules match its
    normalised copy, as their keywords are (``PolicyIndex``)."""
    parts = (submission.title, submission.project_name or "", submission.text)
    return nfkc("\n".join(parts)).lower()


def model_text(submission: TicketSubmitted) -> str:
    """The text the classifier reads: title, then "。", then the body (its title block is before "。")."""
    return f"{submission.title}{TITLE_SEPARATOR}{submission.text}"


def routing_texts(submission: TicketSubmitted) -> tuple[str, str | None]:
    """``ticket_text`` and ``model_text`` NFKC-normalised and lowered (None when it cannot be cut out)."""
    title, project = submission.title, submission.project_name or ""
    joined = "\n".join((title, project, submission.text))
    mapped = char_nfkc(joined)
    if mapped is None:
        return nfkc(joined).lower(), None
    lowered = mapped.lower()
    if len(lowered) != len(mapped):  # a character lowered to two ("İ"): places moved
        return lowered, None
    cut = len(title)
    return lowered, lowered[:cut] + TITLE_SEPARATOR + lowered[cut + len(project) + 2 :]
