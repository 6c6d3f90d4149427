"""Models written once with `unified`: ``GPT`` and its ``GPTConfig``."""

from unified.models.gpt import GPT, GPTConfig

__all__ = ["GPT", "GPTConfig"]
