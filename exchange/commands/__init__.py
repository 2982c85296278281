"""Subcommands of ``thingbid``; every module here defines ``register(subparsers)``."""
