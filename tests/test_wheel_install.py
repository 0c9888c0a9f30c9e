"""Issue 11 item 18: tenant-router is not on the package index; the README's way in works.

Builds the wheel, installs it into a fresh virtual environment (dependencies from the configured
package index) and runs the installed console script and manage.py command on a copy of the example.
"""

from __future__ import annotations

import re
import shutil
import sys
import zipfile
from pathlib import Path

from support.paths import ROOT
from support.processes import clean_environment, run

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_installs_from_a_clone_or_a_wheel_not_from_the_index() -> None:
    assert not re.search(r"pip install tenant-router\b", README)
    assert "pip install ." in README
    assert "pip wheel . -w dist" in README and "pip install dist/tenant_router-" in README


def test_wheel_builds_installs_in_a_fresh_venv_and_runs(tmp_path: Path) -> None:
    env = clean_environment(importable=False)  # the installed wheel, not the repository
    build = run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", str(tmp_path / "dist")],
        ROOT, env=env,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("tenant_router-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "tenant_router/management/commands/tenant_router.py" in names
    assert "tenant_router_cli/app.py" in names and not any(n.startswith("tests/") for n in names)

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env=env, check=True)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]  # this pip, that venv
    install = run([*pip, "install", "-q", str(wheel)], tmp_path, env=env, timeout=600)
    assert install.returncode == 0, install.stderr

    demo = tmp_path / "clinic"
    ignore = shutil.ignore_patterns("*.sqlite3", "*.lock", ".tenant-router", "__pycache__")
    shutil.copytree(ROOT / "examples" / "clinic", demo, ignore=ignore)
    cli = venv / "bin" / "tenant-router"
    version = run([cli, "--version"], tmp_path, env=env)
    migrate = run([cli, "migrate", "--settings", "clinic.settings", "--jobs", "1"], demo, env=env)
    status = run([venv / "bin" / "python", "manage.py", "tenant_router", "status"], demo, env=env)

    assert version.stdout.strip() == "tenant-router 0.1.0", version.stderr
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    assert "Summary: 7 database(s)" in migrate.stdout and str(ROOT) not in migrate.stdout
    assert status.returncode == 0 and "django_orm: 4 at head" in status.stdout, status.stderr
