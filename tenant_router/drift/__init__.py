"""Schema drift, the reading part: databases whose real schema is not the one their applied migrations
promise.

Each database's schema is read from the catalogue (schema.py) on the run's worker pool (probe.py),
compared with an expected schema built once per migration state in a scratch database (expected.py,
diff.py) and reported (report.py). The pass over the fleet, `check_databases` and `read_drift`, is in
run/drift.py; `detect_drift()` in api.py.
"""
