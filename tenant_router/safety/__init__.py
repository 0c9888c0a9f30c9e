"""What keeps databases safe while they migrate: run locks (locks.py), per-step lock waits and statement
timeouts (lockwait.py), transient-error retry (retry.py), stopping at a boundary (cancel.py), database
error classes (dberrors.py), and passwords kept out of every output (redact.py).
"""
