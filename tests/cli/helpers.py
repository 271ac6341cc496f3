"""Running the CLI in-process against a store URL."""

from __future__ import annotations

from typer.testing import CliRunner, Result

from mburoja.cli.main import app

HOME_ORG = "CERT Albania"
# Wide enough that no table folds a value across lines (a folded secret would hide from `in`).
runner = CliRunner(env={"COLUMNS": "400"})


def cli(url: str, *args: str) -> Result:
    return runner.invoke(app, ["--store-url", url, *args])
