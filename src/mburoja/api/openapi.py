"""The OpenAPI 3.0.3 document of the REST API, served at ``/api/openapi.json``.

Each API module documents its own routes in a ``PATHS`` dict (OpenAPI ``paths`` entries),
next to the code they describe; this module merges them under the shared ``info``,
``servers`` and ``components`` (the ``Error`` schema every error answer uses, and the bearer
token scheme). Nothing is skipped silently: a module of :data:`MODULES` that is missing or
has no ``PATHS`` is named in ``x-missing-paths``, and a path and method documented twice is
an error. ``tests/api/test_openapi.py`` checks that every ``/api/`` route is documented and
runs schemathesis against the live server.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any, Final

from mburoja import __version__
from mburoja.errors import ConfigError

#: the modules whose ``PATHS`` make the document
MODULES: Final = (
    "mburoja.api.core_paths",
    "mburoja.api.objects_api",
    "mburoja.api.graph_api",
    "mburoja.api.admin_api",
    "mburoja.api.detection_api",
    "mburoja.api.disinfo_share",
    "mburoja.api.disinfo_paths",
)
METHODS: Final = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

COMPONENTS: Final[dict[str, Any]] = {
    "schemas": {
        "Error": {
            "type": "object",
            "required": ["error", "status"],
            "properties": {
                "error": {"type": "string", "description": "what was wrong, and where"},
                "status": {"type": "integer", "description": "the HTTP status code"},
            },
            "additionalProperties": False,
        }
    },
    "securitySchemes": {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token: `mburoja token issue USER` makes one.",
        }
    },
}


def collect(modules: Iterable[str] = MODULES) -> tuple[dict[str, Any], list[str]]:
    """The merged ``paths`` of ``modules``, and the modules that gave none."""
    paths: dict[str, Any] = {}
    missing: list[str] = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            missing.append(name)
            continue
        found = getattr(module, "PATHS", None)
        if not isinstance(found, dict):
            missing.append(name)
            continue
        for path, item in found.items():
            merged = paths.setdefault(path, {})
            for method, operation in item.items():
                if method in merged:
                    raise ConfigError(f"OpenAPI: {method.upper()} {path} is documented twice")
                merged[method] = operation
    return paths, missing


def document(modules: Iterable[str] = MODULES) -> dict[str, Any]:
    """The OpenAPI document (a new dict each call)."""
    paths, missing = collect(modules)
    spec: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "Mburoja REST API",
            "version": __version__,
            "description": "Threat intelligence of a national CERT and its allies, read "
            "through the access policy as the caller. Errors answer "
            '`{"error": "...", "status": N}`. TAXII 2.1 is served under `/taxii2/`.',
            "license": {"name": "Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": COMPONENTS,
    }
    undeclared = [
        f"{method.upper()} {path}"
        for path, item in paths.items()
        for method, operation in item.items()
        if method in METHODS and "security" not in operation
    ]
    if undeclared:  # each operation says who may call it; no global default hides one
        raise ConfigError(f"OpenAPI: no security declared for {', '.join(undeclared)}")
    if missing:
        spec["x-missing-paths"] = missing
    return spec
