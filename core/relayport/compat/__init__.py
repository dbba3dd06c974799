"""Pieces of the OpenAI-compatible base that fix vendor quirks (see `relayport.openai_compat`)."""
