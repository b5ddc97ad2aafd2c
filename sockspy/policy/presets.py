"""Ready-made policies for common Docker clients, shipped as TOML files beside this module.

Each preset is an ordinary policy file (``sockspy/policy/presets/<name>.toml``, also
reachable as ``configs/presets/``): copy one to start your own. `load_preset` reads it
through the same loader as any file, so a preset can never hold what a file could not.
"""

from __future__ import annotations

from importlib import resources

from sockspy.policy.load import PolicyError, Problem, parse_policy
from sockspy.policy.model import Policy

PRESETS: tuple[str, ...] = (
    "readonly",
    "traefik",
    "portainer",
    "watchtower",
    "homepage",
    "ci-runner",
    "audit-only",
)


def preset_text(name: str) -> str:
    """The TOML text of a preset. Raises PolicyError for an unknown name."""
    if name not in PRESETS:
        known = ", ".join(PRESETS)
        raise PolicyError([Problem(name, 0, f"no preset is named {name!r} (presets: {known})")])
    folder = resources.files("sockspy.policy").joinpath("presets")
    return folder.joinpath(f"{name}.toml").read_text("utf-8")


def load_preset(name: str) -> Policy:
    """The policy of a preset, by name (see PRESETS)."""
    return parse_policy(preset_text(name), source=f"preset:{name}")
