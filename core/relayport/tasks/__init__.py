"""Async media tasks: the store (SQLite) that keeps them across restarts."""
