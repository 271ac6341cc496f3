"""Running the CLI in-process against a store URL."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner, Result

from mburoja.cli.main import app

HOME_ORG = "CERT Albania"
# Wide enough that no table folds a value across lines (a folded secret would hide from `in`).
runner = CliRunner(env={"COLUMNS": "400"})


def cli(url: str, *args: str) -> Result:
    return runner.invoke(app, ["--store-url", url, *args])


def initialised(store_url: str, tmp_path: Path) -> str:
    """``store_url``, once ``mburoja init`` has created its schema and home organisation."""
    data_dir = str(tmp_path / "data")
    result = runner.invoke(
        app, ["--store-url", store_url, "--data-dir", data_dir, "init", "--org", HOME_ORG]
    )
    assert result.exit_code == 0, result.output
    return store_url
