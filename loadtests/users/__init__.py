"""Locust user classes of chatperf: streaming chat, OpenAI-compatible client, quick cache check.

One module each; the locustfile imports them and the mix (``--mix``, see ``mix.py``) decides
which run and how many of each.
"""
