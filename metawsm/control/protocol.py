"""Messages of the control socket and how typed errors cross it.

A :class:`~metawsm.errors.MetawsmError` raised by a method reaches the client as a JSON-RPC
error whose ``code`` names its class and whose ``data`` carries the hint, and is raised again
there as the same class, so the CLI prints the same line whether it ran the command in process
or through the supervisor.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from metawsm import errors

#: A line longer than this is refused (the connection is closed after an error reply).
MAX_LINE_BYTES = 1024 * 1024
#: A request nested deeper than this (arrays and objects) is refused: no method takes more
#: than a few levels, and every later step (validation, a method, a log line) would recurse.
MAX_DEPTH = 64

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

# Application codes (JSON-RPC reserves -32768..-32000; ours are positive).
_CODES: dict[type[errors.MetawsmError], int] = {
    errors.MetawsmError: 1000,
    errors.UsageError: 1001,
    errors.NotFoundError: 1002,
    errors.TransitionError: 1003,
    errors.PolicyError: 1004,
    errors.StoreError: 1005,
    errors.WaitTimeoutError: 1006,
}
_BY_CODE = {code: cls for cls, code in _CODES.items()}

RequestId = int | str


def reply_id(data: Any) -> RequestId | None:
    """The id to answer a request that could not be taken with: its own when that is a valid
    id (an integer or a string), else ``None`` (JSON-RPC's null id: a float, a list or an
    object cannot be echoed back, and trying to crashed the server)."""
    found = data.get("id") if isinstance(data, dict) else None
    if isinstance(found, bool) or not isinstance(found, int | str):
        return None
    return found


def nesting_exceeds(data: Any, limit: int) -> bool:
    """Whether ``data`` (parsed JSON) nests arrays and objects deeper than ``limit``; walked
    without recursion, so no input can exhaust the stack here."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class Request(BaseModel):
    """A call from a client. Its ``id`` is an integer or a string, taken as sent (strict: a
    float, ``true`` or a numeric string is not turned into another id)."""

    model_config = ConfigDict(extra="forbid")

    jsonrpc: Literal["2.0"] = "2.0"
    id: StrictInt | StrictStr | None = None
    method: str = Field(min_length=1, max_length=100)
    params: dict[str, Any] = Field(default_factory=dict)


class ErrorObject(BaseModel):
    code: int
    message: str
    data: dict[str, Any] | None = None


class Response(BaseModel):
    """The answer to one request: ``result`` or ``error``."""

    jsonrpc: Literal["2.0"] = "2.0"
    id: RequestId | None = None
    result: Any = None
    error: ErrorObject | None = None


class Notification(BaseModel):
    """A message of a stream (no id): an event, a status update, the end of the stream."""

    jsonrpc: Literal["2.0"] = "2.0"
    method: str
    params: dict[str, Any] = Field(default_factory=dict)


def error_for(exc: BaseException) -> ErrorObject:
    """The wire form of an exception raised by a method."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
        where = ".".join(str(p) for p in first.get("loc", ()))
        text = f"{where}: {first['msg']}" if where else str(first["msg"])
        return ErrorObject(code=INVALID_PARAMS, message=f"invalid params: {text}")
    if isinstance(exc, errors.MetawsmError):
        return ErrorObject(code=_code_of(exc), message=exc.message, data={"hint": exc.hint})
    return ErrorObject(code=INTERNAL_ERROR, message=f"internal error: {type(exc).__name__}: {exc}")


def _code_of(exc: errors.MetawsmError) -> int:
    """The code of the nearest class in the error tree that has one."""
    for cls in type(exc).__mro__:
        code = _CODES.get(cls)
        if code is not None:
            return code
    return _CODES[errors.MetawsmError]


def raise_for(error: ErrorObject) -> None:
    """Raise the client-side form of an error reply."""
    hint = (error.data or {}).get("hint")
    cls = _BY_CODE.get(error.code)
    if cls is not None and cls is not errors.PolicyValidationError:
        raise cls(error.message, hint=hint if isinstance(hint, str) else None)
    if error.code in (INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND):
        raise errors.UsageError(error.message)
    raise errors.MetawsmError(f"supervisor: {error.message}")
