"""What is wrong in a configuration and where: problems located by a JSON path.

JSON-schema errors are translated here into short messages (``expected integer``,
``unknown key "foo"``, ``required key "name" is missing``, ``must be >= 0``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(Exception):
    """A configuration that cannot be used; ``problems`` lists every reason found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def quote(value: Any) -> str:
    """``value`` as JSON, non-ASCII kept readable: ``"foo"``, ``[1, 2]``."""
    return json.dumps(value, ensure_ascii=False)


def json_path(prefix: str, parts: Iterable[str | int]) -> str:
    """``json_path("a", [0, "b", "x y"])`` → ``a[0].b["x y"]``; the empty path is ``$``."""
    path = prefix
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            path += f".{part}" if path else part
        else:
            path += f"[{quote(part)}]"
    return path or "$"


def schema_problems(instance: Any, schema: Mapping[str, Any], prefix: str = "") -> list[Problem]:
    """Every violation of ``schema`` by ``instance``, paths prefixed by ``prefix``."""
    problems: list[Problem] = []
    for error in Draft4Validator(schema).iter_errors(instance):
        problems.extend(_explain(error, prefix))
    return list(dict.fromkeys(problems))


def _explain(error: ValidationError, prefix: str) -> Iterator[Problem]:
    path = json_path(prefix, error.absolute_path)
    keyword = error.validator
    value = error.validator_value
    if keyword == "additionalProperties" and value is False:
        known = error.schema.get("properties", {})
        for key in error.instance:
            if key not in known:
                yield Problem(path, f"unknown key {quote(key)}")
    elif keyword == "required":
        for key in value:
            if key not in error.instance:
                yield Problem(path, f"required key {quote(key)} is missing")
    elif keyword == "type":
        yield Problem(path, "expected " + _alternatives([value] if isinstance(value, str) else value))
    elif keyword == "minimum":
        yield Problem(path, f"must be >= {value}")
    elif keyword == "maximum":
        yield Problem(path, f"must be <= {value}")
    elif keyword == "enum":
        yield Problem(path, "expected one of " + ", ".join(quote(v) for v in value))
    elif keyword == "minProperties":
        yield Problem(path, f"must have at least {value} key{'s' if value != 1 else ''}")
    elif keyword == "maxProperties":
        yield Problem(path, f"must have at most {value} key{'s' if value != 1 else ''}")
    elif keyword == "oneOf":
        yield from _explain_one_of(error, prefix)
    else:
        yield Problem(path, error.message)


def _explain_one_of(error: ValidationError, prefix: str) -> Iterator[Problem]:
    """Explain the branch the instance evidently aimed at, else state what was expected.

    A branch is "aimed at" when its errors all lie below the instance's own keys and none is a
    discriminating ``enum`` (e.g. ``{"latest": {"num_versions": 0}}`` aims at the latest branch).
    """
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context or []:
        branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    aimed = [errors for errors in branches.values() if not any(_misses_branch(e) for e in errors)]
    if len(aimed) == 1 and len(branches) == len(error.schema["oneOf"]):
        for sub in aimed[0]:
            yield from _explain(sub, prefix)
        return
    description = error.schema.get("description")
    message = f"expected {description}" if description else error.message
    yield Problem(json_path(prefix, error.absolute_path), message)


def _misses_branch(error: ValidationError) -> bool:
    return len(error.relative_path) == 0 or error.validator == "enum"


def _alternatives(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]
