"""OpenTelemetry wiring for chatperf: names, instruments, providers and exporters."""
