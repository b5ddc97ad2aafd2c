"""The policy layer: who may do what through sockspy, and how that is decided.

Pure, like the core (no trio, no I/O besides reading a policy file):

* `model`      Policy, Profile, Rule: the policy as values.
* `load`       TOML policy files into a validated Policy, errors with file:line.
* `canonical`  refusals applied before any rule (API version floor, form bodies,
               repeated parameters a rule reads, dockerd's boolean rule).
* `engine`     PolicyGate: the `sockspy.core.deciding.gate.Gate` that decides by the rules.
* `presets`    ready-made policies (readonly, traefik, portainer, ...), as TOML files.
* `tecnativa`  docker-socket-proxy's environment variables as a Policy.
* `hostaccess` the host-access findings rules read (`if_findings`), a decision procedure
               that yields the daemon look-ups it needs; `hostconfig` its HostConfig
               predicates, `bindpaths` Go's path cleaning for allowed bind paths.
"""
