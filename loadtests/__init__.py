"""Load testing for chatperf: the workload, the simulated upstream, the runner, report and gate."""
