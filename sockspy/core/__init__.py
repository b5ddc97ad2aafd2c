"""The sans-IO core: bytes in, events and decisions out. Nothing here imports trio, socket,
ssl or os (tests/core/test_layers.py). Its folders follow a request's way through sockspy:

* `wire`      HTTP/1.1 as bytes: request and response heads, body framing, the target,
              the error responses sockspy makes itself;
* `docker`    what dockerd makes of a request: its route (endpoint name), the body as Go
              decodes it into dockerd's structs, hijacking, what the daemon says of itself;
* `deciding`  the gate: its decision procedure, the look-ups it yields, and `Judgement`,
              which drives it for `serve` and `explain` alike;
* `proxy`     one client connection as a state machine (`Conversation`), its exchanges,
              and the audit records they make;
* `serving`   pure helpers of the serving process: addresses, client identity, limits,
              exposure of tcp fronts, certificate facts, metrics text.
"""
