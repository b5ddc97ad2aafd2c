"""The audit log as evidence: the hash chain over its lines, signed checkpoints, and the
check that finds where a log was changed."""
