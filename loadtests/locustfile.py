"""chatperf's Locust scenarios: ``locust -f loadtests/locustfile.py`` (or ``make load``).

Users live in ``loadtests.users``, the measuring hooks in ``loadtests.hooks``, the load shape
in ``loadtests.users.pacing``; importing them here is what registers them with Locust.
"""

from __future__ import annotations

import loadtests.hooks  # noqa: F401 - registers chatperf's options and event listeners
from loadtests.users.chat import ChatUser
from loadtests.users.openai_client import OpenAIUser
from loadtests.users.pacing import NamedShape
from loadtests.users.quick import QuickUser

__all__ = ["ChatUser", "NamedShape", "OpenAIUser", "QuickUser"]
