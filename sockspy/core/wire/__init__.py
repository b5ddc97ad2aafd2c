"""HTTP/1.1 as bytes: heads, body framing, targets, sockspy's own error responses."""
