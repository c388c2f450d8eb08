"""One module per kind of lifecycle step; each registers itself in ``greenai.lifecycle.registry``.

Module level imports no torch (the registry is read by the CLI and the reports); the work is in
functions.
"""
