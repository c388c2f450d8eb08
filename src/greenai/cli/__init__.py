"""The ``greenai`` command. One module per subcommand, each exposing ``register(subparsers)``."""
