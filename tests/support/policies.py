"""Policies the tests share."""

# Watches without denying; its first rule reads host-access findings, so every decision
# looks up what it needs and the record keeps it (what `learn` and `replay` work from).
WATCHING = """
mode = "audit"

[[rules]]
name = "watch-host-access"
action = "allow"
if_findings = ["host_access"]

[[rules]]
name = "rest"
action = "allow"
"""
