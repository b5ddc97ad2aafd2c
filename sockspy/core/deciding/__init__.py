"""Deciding a request: the `Gate`, its decision procedure and the look-ups it yields.

Why was a request denied? `gate.py` is the seam; `sockspy.policy.engine.PolicyGate.judge`
walks the rules, `sockspy.policy.hostaccess.findings` names the host access it found, and
`judgement.py` holds the fail-closed rules (500 for a broken rule, 502 for a failed look-up).
"""
