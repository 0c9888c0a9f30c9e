"""Creating tenant databases: per-engine administration, templates and their copies."""
