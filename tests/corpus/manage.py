#!/usr/bin/env python
"""The corpus project's manage.py (tests run `manage.py shell -c "...migrate_to_all()"` with it)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "corpussite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
