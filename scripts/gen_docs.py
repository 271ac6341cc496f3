"""Generate the reference pages that come from the code: docs/cli.md and docs/configuration.md.

``python scripts/gen_docs.py`` rewrites them; ``tests/test_docs.py`` fails when they are stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import msgspec
import typer

from mburoja.cli.main import app
from mburoja.config import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"


def cli_reference() -> str:
    root = typer.main.get_command(app)
    lines = [
        "# CLI reference",
        "",
        "Generated from the code by `scripts/gen_docs.py`; `tests/test_docs.py` checks it.",
        "",
    ]

    def walk(cmd: click.Command, path: list[str]) -> None:
        # Typer ships its own copy of click: use the command's own context class.
        context_class = getattr(cmd, "context_class", click.Context)
        ctx = context_class(
            cmd, info_name=" ".join(path), terminal_width=100, max_content_width=100
        )
        lines.extend(
            [f"## `{' '.join(path)}`", "", "```text", cmd.get_help(ctx).rstrip(), "```", ""]
        )
        if hasattr(cmd, "list_commands"):  # a group
            for name in sorted(cmd.list_commands(ctx)):
                sub = cmd.get_command(ctx, name)
                if sub is not None:
                    walk(sub, [*path, name])

    walk(root, ["mburoja"])
    return "\n".join(lines)


def config_reference() -> str:
    lines = [
        "# Settings reference",
        "",
        "Generated from `mburoja.config` by `scripts/gen_docs.py`; `tests/test_docs.py` checks it.",
        "",
        "Precedence: defaults, then `mburoja.toml` (or the file named by `--config` or",
        "`MBUROJA_CONFIG`), then `MBUROJA_*` environment variables, then command-line flags.",
        "",
        "| setting | environment variable | type | default | meaning |",
        "|---|---|---|---|---|",
    ]
    defaults = Settings()
    lines.append(
        f"| `data_dir` | `MBUROJA_DATA_DIR` | str | `{defaults.data_dir}` | "
        "where the embedded store and its files live |"
    )
    # every section of Settings, so a new one cannot be left out of the page
    sections = [
        f.name
        for f in msgspec.structs.fields(defaults)
        if isinstance(getattr(defaults, f.name), msgspec.Struct)
    ]
    for section in sections:
        struct = getattr(defaults, section)
        doc = (type(struct).__doc__ or "").strip().replace("\n", " ")
        for field in msgspec.structs.fields(struct):
            value = getattr(struct, field.name)
            env = f"MBUROJA_{section}_{field.name}".upper()
            kind = getattr(field.type, "__name__", str(field.type))
            lines.append(f"| `{section}.{field.name}` | `{env}` | {kind} | `{value!r}` | {doc} |")
    return "\n".join(lines) + "\n"


PAGES = {"cli.md": cli_reference, "configuration.md": config_reference}


def main() -> int:
    for name, make in PAGES.items():
        (DOCS / name).write_text(make())
        print(f"wrote docs/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
