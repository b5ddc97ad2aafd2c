# sockspy: a guard for the Docker daemon socket, as a container.
#
#   docker build -t sockspy .
#   docker network create --internal docker-api
#   docker run -d --name sockspy --network docker-api \
#       --group-add "$(stat -c %g /var/run/docker.sock)" \
#       -v /var/run/docker.sock:/var/run/docker.sock:ro \
#       sockspy serve -H tcp://0.0.0.0:2375 --insecure-plain-tcp -c traefik
#
# README.md, "Container image", has the rest: compose examples (configs/compose/), a unix
# front instead of tcp, and building without a registry or without network.
#
# The classic builder and BuildKit both build this file (no RUN --mount, no heredocs), so
# it also builds where only `docker build` of an older engine is available.

# Any CPython >= 3.11 image with pip and /bin/sh. Both stages use it, so the packages
# installed in the first land in the second under the same Python version.
ARG BASE=python:3.11-slim

# --- build: sockspy and its dependencies, installed under /install ------------------------
FROM ${BASE} AS build

# Offline builds (no package index reachable from the build): put wheels of sockspy's
# dependencies and of setuptools in ./wheels of the build context, e.g.
#   pip wheel . -w wheels && pip download -d wheels setuptools
# and pass --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/src/wheels.
# pip reads both from the environment; left unset, pip uses its index as usual.
ARG PIP_NO_INDEX
ARG PIP_FIND_LINKS
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

# .dockerignore lets in only pyproject.toml, README.md, sockspy/ and wheels/.
COPY . /src
RUN python -m pip install --prefix=/install --no-warn-script-location /src

# --- runtime: the base, the installed packages, an unprivileged user -----------------------
FROM ${BASE}

COPY --from=build /install /usr/local

# sockspy runs as uid 10001, never root. It reaches the daemon's socket through the
# socket's group, which differs from host to host: give it at run time with
#   --group-add "$(stat -c %g /var/run/docker.sock)"   (compose: group_add)
# The entries are written directly so that any base with /bin/sh works (slim images
# have useradd, busybox has adduser, distroless has neither).
RUN echo 'sockspy:x:10001:10001:sockspy:/nonexistent:/sbin/nologin' >> /etc/passwd \
 && echo 'sockspy:x:10001:' >> /etc/group
USER 10001:10001

# Audit records go to stdout (JSON when it is not a terminal: `docker logs`), unbuffered.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# The health check asks the daemon for /_ping through sockspy's own front, so "healthy"
# means both that sockspy accepts connections and that it reaches the daemon (the socket
# is mounted and its group was added). Each check is one exchange in the audit log.
# SOCKSPY_HEALTHCHECK names the front to ask: set it when you serve another one, e.g.
# -e SOCKSPY_HEALTHCHECK=unix:///run/sockspy/docker.sock.
ENV SOCKSPY_HEALTHCHECK=tcp://127.0.0.1:2375
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD python -c 'import os, socket; a = os.environ["SOCKSPY_HEALTHCHECK"]; unix = a.startswith("unix://"); s = socket.socket(socket.AF_UNIX if unix else socket.AF_INET); s.settimeout(4); s.connect(a[7:] if unix else (a[6:].rpartition(":")[0], int(a.rpartition(":")[2]))); s.sendall(b"GET /_ping HTTP/1.1\r\nHost: sockspy\r\nConnection: close\r\n\r\n"); raise SystemExit(s.recv(64)[9:12] != b"200")'

# The daemon's socket: mount it read-only (-v /var/run/docker.sock:/var/run/docker.sock:ro).
# A read-only bind still lets sockspy connect(): "ro" forbids changing the file, and a
# connection is not a change. It keeps a compromised sockspy from replacing the socket.
EXPOSE 2375
ENTRYPOINT ["sockspy"]

# Plain tcp on every interface of the container, on purpose. The tools this image
# guards (Traefik, Portainer, CI runners) reach it over a container network, so it must
# listen beyond loopback, which sockspy refuses for plain tcp unless told so. The
# container's network namespace is the boundary: attach it only to an internal network
# shared with its clients, and never publish the port (-p) on the host. For clients on
# other machines, serve TLS instead (--tlsverify, README "Expose Docker over TLS").
# No -c: docker-socket-proxy variables (-e CONTAINERS=1 ...) if any are set, else the
# readonly preset. Give -c PRESET or a mounted policy file to choose.
CMD ["serve", "-H", "tcp://0.0.0.0:2375", "--insecure-plain-tcp"]
