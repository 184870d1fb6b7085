"""Parses OpenMetrics text from stdin with the Prometheus project's own parser (PyPI's
prometheus-client, strict: it rejects malformed lines, duplicate series, a missing # EOF)
and prints the families and samples as JSON for the Rust test to check."""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

families = {}
samples = []
for f in text_string_to_metric_families(sys.stdin.read()):
    families[f.name] = f.type
    for s in f.samples:
        samples.append([s.name, s.labels, s.value])
json.dump({"families": families, "samples": samples}, sys.stdout)
