"""chatperf's Grafana dashboards as code, their provisioning, and their Grafana client.

``python -m dashboards build`` writes ``dashboards/json`` (``dashboards.build``); ``python -m
dashboards push`` uploads the dashboards to a running Grafana; the load runner calls
``dashboards.grafana.annotate_run`` (the grafana-client library) to mark its runs. The modules
need the ``dashboards`` extra (Grafana's libraries), so this package imports none of them itself.
"""
