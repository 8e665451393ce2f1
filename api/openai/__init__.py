"""OpenAI's API under ``/v1``: an adapter over the task kinds (chat, text-generation, text-vectorisation)."""
