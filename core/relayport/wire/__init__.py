"""Codecs for the wire formats the core itself speaks (OpenAI chat, SSE framing)."""
