"""Refusals made before any rule is read: requests whose meaning could differ in dockerd.

A rule can only be as exact as the request it reads. Where dockerd could read a request
otherwise than sockspy does, the policy refuses it with 400 and a stable code, in every
mode (`warn` and `audit` included): these are about ambiguity, not about policy.

* **API version.** dockerd parses the ``/vX.Y`` prefix numerically and leniently
  (``versions.compare``: split on ".", each part an integer, missing parts are 0), so
  ``/v1.041`` is 1.41 and ``/v1.9`` is *below* 1.24. A request below the policy's floor is
  refused; so is a version text Go would read as something else than it looks
  (an empty part as in ``1..41`` or ``1.``, a part too long for an integer). A path with no
  version means the daemon's current version: it passes.
* **Form bodies.** For POST, PUT and PATCH, Go's ``Request.ParseForm`` merges an
  ``application/x-www-form-urlencoded`` body into ``r.Form``, and its values come *before*
  the query's: the daemon would read parameters the rules never saw. No Docker client
  sends such a body. ``multipart/form-data`` is refused too: ``Request.FormValue`` parses
  it when a handler asks before ``ParseForm``.
* **Repeated query parameters.** Go's ``Values.Get`` takes the first value; a rule that
  reads a parameter refuses a request that repeats it rather than trust its own reading
  (`repeated_parameter`, called by the engine for the names a rule reads).
* **Booleans.** dockerd's ``httputils.BoolValue``: after trimming spaces and lowering the
  case, only "", "0", "no", "false" and "none" are false (`query_bool`).

Everything here is pure: a `Request` in, a `Decision` (or None) out.
"""

from __future__ import annotations

from collections.abc import Iterable

from sockspy.core.deciding.decision import Decision
from sockspy.core.docker.request import Request

RULE = "canonical"  # the rule name canonical refusals carry in the audit log

# Go's strconv.Atoi fails (and versions.compare reads 0) past the int range; nine digits
# are far more than any real version part and always fit.
_MAX_PART_DIGITS = 9

_FORM_TYPES = frozenset({b"application/x-www-form-urlencoded", b"multipart/form-data"})
_FORM_METHODS = frozenset({"POST", "PUT", "PATCH"})

Version = tuple[int, ...]


def parse_version(text: str) -> Version | None:
    """An API version as dockerd compares it, or None for text it would misread.

    Trailing zero parts are dropped so that equal versions compare equal:
    ``"1.41.0"`` and ``"01.041"`` both give ``(1, 41)``.
    """
    parts = text.split(".")
    numbers: list[int] = []
    for part in parts:
        if not part or not part.isdigit() or not part.isascii() or len(part) > _MAX_PART_DIGITS:
            return None
        numbers.append(int(part))
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


def format_version(version: Version) -> str:
    return ".".join(str(part) for part in (version if len(version) > 1 else (*version, 0)))


def refuse(code: str, reason: str, profile: str | None = None, status: int = 400) -> Decision:
    """A canonical refusal: enforced in every mode."""
    return Decision(
        allowed=False,
        rule=RULE,
        reason=reason,
        status=status,
        code=code,
        profile=profile,
    )


def version_refusal(request: Request, floor: Version) -> tuple[str, str] | None:
    """(code, reason) if the request's API version is unreadable or below `floor`."""
    text = request.api_version
    if text is None:
        return None  # no prefix: the daemon's own (current) version
    version = parse_version(text)
    if version is None:
        return "bad_api_version", f"API version {text!r} is not a version dockerd reads as such"
    if version < floor:
        return (
            "api_version_too_old",
            f"API version {text} is below the minimum {format_version(floor)} of this policy",
        )
    return None


def form_body_refusal(request: Request) -> tuple[str, str] | None:
    """(code, reason) if Go would merge a form body into the parameters dockerd reads."""
    if request.method not in _FORM_METHODS:
        return None
    for name, value in request.head.headers:
        if name == b"content-type":
            media_type = value.split(b";", 1)[0].strip(b" \t").lower()
            if media_type in _FORM_TYPES:
                return (
                    "form_body",
                    f"a {media_type.decode('latin-1')} body would override the query "
                    "parameters dockerd reads",
                )
    return None


def repeated_parameter(request: Request, names: Iterable[str]) -> str | None:
    """The first of `names` the request's query repeats, if any."""
    if not request.query:
        return None
    for name in names:
        if request.query_count(name) > 1:
            return name
    return None
