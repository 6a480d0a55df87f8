"""HTTP routes, one blueprint a module: chat, OpenAI-compatible, stats, health."""
