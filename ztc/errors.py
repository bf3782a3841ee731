"""The CLI's user-facing error, in a module of its own so every command module can raise it cheaply."""

from __future__ import annotations


class CliError(Exception):
    """A user-facing error: printed as one line (``错误 / error: ...``), exit code 2."""
