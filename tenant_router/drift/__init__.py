"""Schema drift: databases whose real schema is not the one their applied migrations promise.

Each database's schema is read from the catalogue (schema.py) on the run's worker pool (probe.py),
compared with an expected schema built once per migration state in a scratch database
(expected.py), and classified (check.py, report.py). `detect_drift()` lives in run.py.
"""
