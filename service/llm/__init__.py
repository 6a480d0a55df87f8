"""Reaching the upstream LLM: the model router and the streaming OpenAI-SDK client."""
