"""What a run emits and keeps: database keys (keys.py), events (events.py), the report folded from them
(report.py), the handles assistants write rows through (orm_report.py), the run journal (journal.py) and
plain-text lines (plaintext.py).
"""
