"""NGINX in front of several chatperf instances: the config template and its renderer."""

from deploy.nginx.render import ProxyOptions, render, render_standalone

__all__ = ["ProxyOptions", "render", "render_standalone"]
