"""What dockerd makes of a request: routes, bodies as Go decodes them, hijacking, daemon facts."""
