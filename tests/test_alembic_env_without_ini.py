"""An env.py that reads its ini file (as optuna's does: fileConfig(config.config_file_name)) run with only
SCRIPT_LOCATION set fails with one line saying what to set, not a bare TypeError."""

from __future__ import annotations

from pathlib import Path

from support.sqlalchemy_sites import database_urls, make_site, report_of, rows


def test_env_py_that_needs_an_ini_file_says_so(tmp_path: Path) -> None:
    with database_urls("sqlite", tmp_path, 1) as urls:
        site = make_site(
            tmp_path / "site",
            {"tenant-1": urls[0]},
            asst_options={"SCRIPT_LOCATION": "alembic"},
            django=False,
        )
        env = site.root / "alembic" / "env.py"
        env.write_text(
            "from logging.config import fileConfig\nfrom alembic import context\n"
            "fileConfig(context.config.config_file_name)\n" + env.read_text()
        )

        result, lines = site.run_json("migrate")

    assert result.returncode == 1, result.stderr
    row = rows(report_of(lines), "sqlalchemy_orm")["tenant-1"]
    assert "env.py failed before any revision" in row["error"]
    assert "set ALEMBIC_INI" in row["error"]
