"""The lifecycle: every step (train, prune, quantize, distill, export) as a metered, recorded run."""
