"""Deployment tooling that ships with chatperf: configs for what runs in front of it."""
