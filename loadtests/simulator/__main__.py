"""``python -m loadtests.simulator``: patch for gevent, then hand over to the CLI."""

from gevent import monkey

# Before anything else imports socket or time, so every blocking call yields to other streams.
monkey.patch_all()

from loadtests.simulator.cli import main  # noqa: E402 - must follow the monkey patching

main()
