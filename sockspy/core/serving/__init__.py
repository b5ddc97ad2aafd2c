"""Pure helpers of the serving process: addresses, identity, limits, exposure, certificates."""
