"""chatperf's streaming chat service: Flask on gunicorn+gevent, cache-first, OpenAI-compatible."""

__version__ = "0.1.0"
