"""One small class per network: it owns its pre-processing, its session and its decoding."""
