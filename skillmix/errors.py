"""Every exception type of skillmix, and the one-line form of bad input.

Exception
├── SkillmixError        bad user input (config, catalog, template, model string, store):
│   │                    the CLI prints its one line (file: field: message) and exits 2
│   └── CredentialsRefused  the provider refused the key (401/403): the run stops at once
├── BackendError         a model call failed; recorded against the item, the run goes on
│   └── MalformedReply   a reply that parsed but lacks what the API promises (retried)
├── CallFailed           a call failed for good (after retries): wraps the backend's error
├── BudgetReached        budget_usd is spent: no new call starts (a rerun continues)
├── Interrupted          Ctrl-C: no new call starts; the calls in flight are stored
└── ValueError
    └── UnparseableReply a grader reply that cannot be read onto the rubric (re-asked)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError


class SkillmixError(Exception):
    """Bad user input (config, catalog, template, model string). The CLI prints it and exits 2."""

    def __init__(self, message: str, *, file: Path | str | None = None, field: str | None = None):
        self.file = str(file) if file is not None else None
        self.field = field
        self.message = message
        where = ": ".join(part for part in (self.file, field) if part)
        text = f"{where}: {message}" if where else message
        super().__init__(" ".join(text.split()))


def yaml_syntax_error(exc: Exception, path: Path) -> SkillmixError:
    """A PyYAML parse error as bad input naming the file and, when known, the line."""
    mark = getattr(exc, "problem_mark", None)
    line = f"line {mark.line + 1}" if mark is not None else None
    return SkillmixError(
        f"YAML syntax error: {getattr(exc, 'problem', exc)}", file=path, field=line
    )


class CredentialsRefused(SkillmixError):
    """The provider refused the credentials: every call would fail the same way."""


class BackendError(Exception):
    """A model call failed in a way the caller records against the item (not bad input)."""


class MalformedReply(BackendError):
    """A reply that parsed but lacks what the API promises: treated like a truncated one."""


class CallFailed(Exception):
    """A model call failed for good (after retries); recorded against its item. Its message
    never holds a secret (see scrub)."""

    def __init__(self, error: Exception, secrets: tuple[str, ...] = ()):
        super().__init__(scrub(f"{type(error).__name__}: {error}", secrets))


# credentials as providers and proxies echo them: "Bearer sk-...", "x-api-key: ..."
CREDENTIAL = re.compile(r"(?i)(bearer\s+|x-api-key['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+")


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """The text with every secret value and credential header value replaced by ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return CREDENTIAL.sub(r"\1***", text)


class BudgetReached(Exception):
    """The run's spending reached budget_usd; no new call starts."""


class Interrupted(Exception):
    """The run was asked to stop (Ctrl-C); no new call starts."""


class UnparseableReply(ValueError):
    """The reply cannot be mapped onto the rubric; the message says why."""


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "required key is missing"
    message: str = error["msg"]
    return message.removeprefix("Value error, ")


def describe_validation(exc: ValidationError) -> tuple[str, str]:
    """(field path, message) of a pydantic error's first problem, in our one-line style."""
    error = exc.errors()[0]
    return _field_path(error["loc"]), _message(error)
