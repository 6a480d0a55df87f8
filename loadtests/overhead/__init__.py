"""The overhead benchmark: what the service adds to an answer, measured against its own upstream.

``python -m loadtests overhead`` (``cli``) runs the same lean asyncio client (``client``) direct
to a fixed-delay upstream and through the service (``stack``), in alternating rounds
(``bench``), with users spread or in bursts; CPU comes from ``/proc`` (``cpu``); figures,
the fixed cost of a request among them, are derived once (``summary``) and written as JSON,
Markdown and HTML (``report``); ``gate`` compares a short run with a baseline.
"""
