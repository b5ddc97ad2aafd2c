"""Where a command's policy comes from: a file, or a preset by name."""

from __future__ import annotations

import os
from collections.abc import Mapping

from sockspy.policy.load import load_policy
from sockspy.policy.model import Policy
from sockspy.policy.presets import PRESETS, load_preset
from sockspy.policy.tecnativa import policy_from_env

DEFAULT_PRESET = "readonly"


def load_named(path: str) -> Policy:
    """A policy file, or a preset by name when no such file exists."""
    if path in PRESETS and not os.path.exists(path):
        return load_preset(path)
    return load_policy(path)


def choose_policy(config: str | None, env: Mapping[str, str]) -> tuple[Policy, str]:
    """The policy `serve` enforces and a one-line note on where it came from.

    An explicit -c wins; then docker-socket-proxy's variables; then the readonly preset,
    so that a first `sockspy serve` is safe and `docker ps` still works through it.
    Raises PolicyError.
    """
    if config is not None:
        policy = load_named(config)
        return policy, f"policy {policy.source} (mode {policy.mode})"
    from_env = policy_from_env(env)
    if from_env is not None:
        return from_env, (
            f"policy from docker-socket-proxy variables in the environment (mode {from_env.mode})"
        )
    policy = load_named(DEFAULT_PRESET)
    return policy, (
        f"no policy given (-c): using the {DEFAULT_PRESET!r} preset, lists and inspects "
        f"only (see `sockspy check {DEFAULT_PRESET}`)"
    )
