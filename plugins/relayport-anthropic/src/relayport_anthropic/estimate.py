"""The local input-token estimate, kept here under its old name; it lives in the core
(`relayport.token_estimate`) since the Responses surface counts with it too."""

from relayport.token_estimate import CHARS_PER_TOKEN, PER_IMAGE, PER_MESSAGE, input_tokens

__all__ = ["CHARS_PER_TOKEN", "PER_IMAGE", "PER_MESSAGE", "input_tokens"]
