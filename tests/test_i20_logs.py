"""Output of other code never corrupts a run's output (issue 20, items 12 and 13).

13: `manage.py makemigrations` touches no tenant and says nothing about unbound template aliases; a real
unbound use still raises.
"""

from __future__ import annotations

import sys
from pathlib import Path

from support.clinic import clinic_copy
from support.processes import run


# -- item 13 --------------------------------------------------------------------------------------
def test_makemigrations_says_nothing_about_unbound_templates(tmp_path: Path) -> None:
    example = clinic_copy(tmp_path)

    result = run([sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"], example)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout
    assert "No tenant is bound" not in result.stderr, result.stderr
    assert "Warning" not in result.stderr, result.stderr


def test_an_unbound_use_still_raises(tmp_path: Path) -> None:
    example = clinic_copy(tmp_path)
    code = "from django.db import connection\nconnection.cursor()"

    result = run([sys.executable, "manage.py", "shell", "-c", code], example)

    assert result.returncode != 0
    assert "TemplateAccessError: No tenant is bound: DATABASES['default'] is a tenant-router template" in (
        result.stderr
    )
