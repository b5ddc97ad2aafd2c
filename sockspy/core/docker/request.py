"""A request as the rest of sockspy sees it: parsed head, target, endpoint, body."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sockspy.core.docker.bodies import decode_body
from sockspy.core.docker.gojson import GO_SPACE, BodyDecodeError
from sockspy.core.docker.routes import Route, classify, split_version
from sockspy.core.wire.head import RequestHead
from sockspy.core.wire.target import Target, parse_target


@dataclass(frozen=True, slots=True)
class Request:
    """A request as dockerd would route it: its head, the parsed target, the API version,
    the route and its path variables, and (when a rule reads it) the de-chunked body."""

    head: RequestHead
    target: Target
    api_version: str | None
    route: Route | None  # None: dockerd has no handler for it (it would answer 404/405)
    params: tuple[tuple[str, str], ...]
    body: bytes | None = None  # the de-chunked body, only when a rule has to read it
    # The body as dockerd decodes it (or why it cannot be), once per request: every check
    # that reads it shares this one decoding. Never compared, never copied by with_body.
    _decoded: list[Any] = field(default_factory=list, init=False, repr=False, compare=False)

    @property
    def method(self) -> str:
        return self.head.method

    @property
    def endpoint(self) -> str:
        return self.route.endpoint if self.route is not None else "unknown"

    @property
    def hijacks(self) -> bool:
        return self.route is not None and self.route.hijacks

    @property
    def query(self) -> tuple[tuple[str, str], ...]:
        """The decoded query parameters, in order, repeats kept."""
        return self.target.params

    def query_get(self, name: str) -> str | None:
        """The value dockerd reads for `name`: Go's Values.Get takes the first one."""
        for key, value in self.target.params:
            if key == name:
                return value
        return None

    def query_values(self, name: str) -> list[str]:
        """Every value of `name`, in order (Go's ``r.Form[name]``)."""
        return [value for key, value in self.target.params if key == name]

    def query_count(self, name: str) -> int:
        return sum(1 for key, _ in self.target.params if key == name)

    def decoded_body(self) -> Any:
        """The body as dockerd's struct for this endpoint holds it, decoded on first use.

        Raises BodyDecodeError (every time it is asked) for a body Go would read otherwise.
        Treat the result as read-only: it is shared by every check of this request.
        """
        if not self._decoded:
            try:
                query = {key: self.query_get(key) or "" for key, _ in self.query}
                self._decoded.append(decode_body(self.endpoint, self.body or b"", query))
            except BodyDecodeError as exc:
                self._decoded.append(exc)
        decoded = self._decoded[0]
        if isinstance(decoded, BodyDecodeError):
            raise decoded
        return decoded

    def with_body(self, body: bytes) -> Request:
        return replace(self, body=body)

    def with_param(self, name: str, value: str) -> Request:
        """This request as if its path gave `value` for the route parameter `name` (a
        container pinned to its id: the checks then read what will be forwarded)."""
        params = tuple((key, value if key == name else old) for key, old in self.params)
        return replace(self, params=params)

    def with_decoded(self, decoded: Any, raw: bytes = b"<recorded>") -> Request:
        """This request as if its body had been read and decoded to `decoded` (replaying a
        recorded decision: the record keeps the decoding, not the bytes; `raw` stands in
        for the bytes where a check reads them as JSON)."""
        request = replace(self, body=raw)
        request._decoded.append(decoded)
        return request


def classify_request(head: RequestHead) -> Request:
    """Name the endpoint dockerd would run for this head. Raises ProtocolError."""
    target = parse_target(head.target)
    api_version, route_path = split_version(target.decoded_path)
    match = classify(head.method, route_path)
    return Request(
        head=head,
        target=target,
        api_version=api_version,
        route=match.route if match else None,
        params=tuple(match.params.items()) if match else (),
    )


_FALSE_WORDS = frozenset({"", "0", "no", "false", "none"})


def query_bool(value: str | None) -> bool:
    """dockerd's ``httputils.BoolValue`` of a parameter (None: absent, which is false)."""
    if value is None:
        return False
    return value.strip(GO_SPACE).lower() not in _FALSE_WORDS
