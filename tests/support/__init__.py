"""What the tests share besides fixtures (those live in tests/conftest.py).

paths: the repository, the tests folder, the clinic example. processes: the one way to run the CLI (or any
command) in a subprocess, with the one clean environment. sites: tenant sites for the in-process tests.
clinic: copies of the clinic example for the real-process tests. servers: PostgreSQL and MariaDB.
describe: what a database holds, to compare two. sqlalchemy_sites, celery_workers, corpus, corpus_fleet:
the fixtures' machinery for the Alembic, Celery and corpus tests.
"""
