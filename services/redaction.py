"""The one redaction step every outgoing text passes: Slack messages, log records, audit rows.

Secrets (storage account keys, SAS signatures, connection-string secrets, bearer tokens and JWTs, Slack
tokens, client secrets and passwords) are replaced by ``[redacted]``; the text around them stays readable:
a SAS URL keeps its account, container, blob and every query field but the signature, a connection string
keeps everything but its key.

Patterns are precompiled, each runs only when a literal it needs is in the text, and none backtracks over
more than one run of characters, so a pass stays linear even on multi-megabyte log tails. Ordinary text
(job names, hex ids, Slack ids, ISO times, resource ids, URLs without secrets) passes unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MASK = "[redacted]"

# A value already masked (here, or as "***" by an earlier scrubber) is left alone: redaction is idempotent.
_MASKED = r"(?!\[redacted\]|\*\*\*(?:[\s;&'\"`|<>)\],]|$))"
# The value of a `name=value` field: up to the next field separator (connection strings use `;`, query
# strings `&`), whitespace, quote, or the end of a Slack link, code span or bracket around it.
_VALUE = r"[^\s;&'\"`|<>)\]]+"
# Field names whose value is a secret (case-insensitive), by how they end: `SharedAccessKey=`,
# `AZURE_CLIENT_SECRET=`, `PGPASSWORD=`, `AMLBOT_SLACK_BOT_TOKEN=` are; `SharedAccessKeyName=` is not.
_SECRET_SUFFIX = (
    r"secret|password|passwd"
    r"|account[_-]?key|shared[_-]?access[_-]?key|shared[_-]?access[_-]?signature"
    r"|(?:access|api|storage|primary|secondary|sas|private)[_-]?key"
    r"|(?:access|refresh|id|bot|app|user|sas|auth|api|session|oauth|client|hf|gh|github|slack|security)[_-]?token"
)
# Names that are secrets only whole: `sig` (a SAS signature), `token`; `pad_token=<pad>` is a tokenizer setting.
_SECRET_WORDS = frozenset({"sig", "token"})
_SECRET_NAME = re.compile(rf"(?i)(?:{_SECRET_SUFFIX})\Z")
# A name of at most 64 characters, for the quoted (JSON, Python repr) form.
_QUOTED_NAME = rf"[A-Za-z0-9_.-]{{0,64}}?(?:{_SECRET_SUFFIX})|sig|token"


def _is_secret_name(name: str) -> bool:
    return name.lower() in _SECRET_WORDS or _SECRET_NAME.search(name[-40:]) is not None


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    template: str  # re.sub template; MASK stands for the mask
    # Lower-case literals of which the text must hold one for the rule to run (empty: always runs).
    needs: tuple[str, ...] = ()


_RULES: tuple[_Rule, ...] = (
    # PEM private keys, whole.
    _Rule(
        re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----.*?(?:-----END (?:[A-Z]+ )*PRIVATE KEY-----|\Z)", re.S),
        MASK,
        ("private key",),
    ),
    # Authorization headers, whatever the scheme: keep the header and the scheme, drop the credential.
    _Rule(
        re.compile(
            r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
            r"(?:(?:bearer|basic|digest|token|sharedkey|sharedkeylite|sharedaccesssignature)\s+)?+)"
            + _MASKED
            + r"[^\s\"',]+"
        ),
        r"\1" + MASK,
        ("authorization",),
    ),
    # API-key headers (Azure OpenAI, API Management, Functions, Event Grid).
    _Rule(
        re.compile(
            r"(?i)\b((?:x-)?api-key|ocp-apim-subscription-key|x-functions-key|aeg-sas-key|aeg-sas-token)"
            r"([\"']?\s*:\s*[\"']?)" + _MASKED + r"[^\s\"',]+"
        ),
        r"\1\2" + MASK,
        ("api-key", "subscription-key", "functions-key", "aeg-sas"),
    ),
    # JSON / Python-repr fields: "AccountKey": "…", 'client_secret': '…'.
    _Rule(
        re.compile(rf"(?i)(?<![\w\]*])([\"'])({_QUOTED_NAME})\1(\s*:\s*)([\"'])" + _MASKED + r"(?:\\.|(?!\4).)+\4"),
        r"\1\2\1\3\4" + MASK + r"\4",
        (":",),
    ),
    # (name=value fields run here: see _redact_fields.)
    # URL query parameters that authorise the request (the bot's Event Grid endpoint takes ?code=…),
    # also in Slack-escaped text where "&" is "&amp;".
    _Rule(
        re.compile(
            r"(?i)([?&](?:amp;)?(?:code|key|sig|token|access_token|api[_-]?key|subscription-key)=)" + _MASKED + _VALUE
        ),
        r"\1" + MASK,
        ("code=", "key=", "sig=", "token="),
    ),
    # Passwords in URLs: scheme://user:password@host.
    _Rule(re.compile(r"(://[^/\s:@]+:)" + _MASKED + r"[^/\s@]+@"), r"\1" + MASK + "@", ("://",)),
    # Bearer tokens outside a header ("Bearer eyJ…", "bearer 0.AXoA…"): long enough not to be prose.
    _Rule(re.compile(r"(?i)\b(bearer\s+)" + _MASKED + r"[A-Za-z0-9._~+/=-]{20,}"), r"\1" + MASK, ("bearer",)),
    # JWTs anywhere (header.payload.signature, or five parts for JWE).
    _Rule(re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+){0,2}"), MASK, ("eyj",)),
    # Slack tokens: bot, user, app-level, refresh, legacy (xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxe-, xapp-).
    _Rule(
        re.compile(r"\b((?:xox[a-z](?:\.xox[a-z])?|xapp)-)(?=[A-Za-z0-9-]*\d)[A-Za-z0-9-]+"),
        r"\1" + MASK,
        ("xox", "xapp-"),
    ),
    # Slack incoming-webhook URLs carry their secret in the path.
    _Rule(
        re.compile(r"(hooks\.slack\.com/(?:services|workflows|triggers)/)" + _MASKED + r"[^\s\"'<>|`]+"),
        r"\1" + MASK,
        ("hooks.slack.com/",),
    ),
    # GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_).
    _Rule(re.compile(r"\b(gh[pousr]_)[A-Za-z0-9]{30,}"), r"\1" + MASK, ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    # Entra ID (Azure AD) client secrets: 40 characters with "Q~" after the fourth character.
    _Rule(
        re.compile(r"(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])"),
        MASK,
        ("q~",),
    ),
    # Bare base64 keys: storage account keys are 88 characters ending in "=="; other Azure keys
    # (Service Bus, Event Grid) are 44 ending in "=". Padded runs of 40+.
    _Rule(re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{40,}={1,2}(?![A-Za-z0-9+/=])"), MASK, ("=",)),
    # Unpadded runs of 80+ base64 characters mixing upper case, lower case and digits: not a word, not a
    # hex id, and not an absolute path (which starts with "/").
    _Rule(
        re.compile(
            r"(?<![A-Za-z0-9+/=])(?=[A-Za-z0-9+])(?=[A-Za-z0-9+/]*[A-Z])(?=[A-Za-z0-9+/]*[a-z])"
            r"(?=[A-Za-z0-9+/]*[0-9])[A-Za-z0-9+/]{80,}(?![A-Za-z0-9+/=])"
        ),
        MASK,
    ),
)
# The rules before this index run ahead of the name=value fields, the others after them.
_FIELDS_AT = 4

# `name=` with the name a whole run of identifier characters (possessive: no backtracking into it).
_FIELD = re.compile(r"(?<![A-Za-z0-9_.-])([A-Za-z0-9_.-]++)\s*+=\s*+")
_FIELD_VALUE = re.compile(r"\"" + _MASKED + r"[^\"\n]*\"|'" + _MASKED + r"[^'\n]*'|" + _MASKED + _VALUE)


def _redact_fields(text: str, mask: str) -> str:
    """name=value fields with a secret name: connection strings, env dumps, command lines, SAS query strings."""
    parts: list[str] = []
    done = 0
    for field in _FIELD.finditer(text):
        if field.start() < done or not _is_secret_name(field[1]):
            continue  # inside a value already masked (`SharedAccessSignature=sv=…`), or not a secret
        value = _FIELD_VALUE.match(text, field.end())
        if value is None:
            continue
        quote = value[0][0] if value[0][0] in "\"'" else ""
        parts += (text[done : value.start()], quote, mask, quote)
        done = value.end()
    return "".join(parts) + text[done:] if parts else text


@dataclass(frozen=True)
class _Compiled:
    before: tuple[tuple[_Rule, str], ...]
    after: tuple[tuple[_Rule, str], ...]


_COMPILED: dict[str, _Compiled] = {}


def _compiled(mask: str) -> _Compiled:
    compiled = _COMPILED.get(mask)
    if compiled is None:
        escaped = mask.replace("\\", "\\\\")
        rules = tuple((rule, rule.template.replace(MASK, escaped)) for rule in _RULES)
        compiled = _COMPILED.setdefault(mask, _Compiled(rules[:_FIELDS_AT], rules[_FIELDS_AT:]))
    return compiled


def _apply(rules: tuple[tuple[_Rule, str], ...], text: str, lowered: str) -> str:
    for rule, template in rules:
        if not rule.needs or any(literal in lowered for literal in rule.needs):
            text = rule.pattern.sub(template, text)
    return text


def redact(text: str, *, mask: str = MASK) -> str:
    """`text` with every secret it carries replaced by `mask`; everything else unchanged."""
    if not text:
        return text
    compiled = _compiled(mask)
    lowered = text.lower()
    text = _apply(compiled.before, text, lowered)
    if "=" in text:
        text = _redact_fields(text, mask)
    return _apply(compiled.after, text, lowered)


def redact_value(obj: Any) -> Any:
    """A copy of a JSON-like value (Block Kit, outbox and audit payloads) with every string in it redacted.

    Dicts (any Mapping), lists and tuples are rebuilt with their keys kept; other values are returned as they are.
    """
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, Mapping):
        return {key: redact_value(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [redact_value(item) for item in obj]
    if isinstance(obj, tuple):
        return tuple(redact_value(item) for item in obj)
    return obj
