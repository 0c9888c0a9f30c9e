"""One pass over the fleet: the request objects (requests.py), the selection of tenants (selection.py),
the shared read that builds assistants and lists the databases (fleet.py), and the runs built on it:
migrate (engine.py with its phases.py and requeue.py), status (status.py) and drift (drift.py).
"""
