"""Subcommands of the `vatex` CLI, one module each."""
