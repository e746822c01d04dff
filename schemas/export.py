"""Write (or check) the committed JSON Schema files.

``python -m necroflow.schemas.export [DIR]`` writes ``DIR/job.schema.json`` and
``DIR/manifest.schema.json`` (default DIR: ``json-schema``); ``--check`` writes nothing
and exits 1 when the files differ from what the models generate (for CI).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .json_schema import job_schema, manifest_schema

JOB_SCHEMA_FILE = "job.schema.json"
MANIFEST_SCHEMA_FILE = "manifest.schema.json"


def render(schema: dict[str, Any]) -> str:
    """Stable text: sorted keys, two-space indent, newline at the end."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_files() -> dict[str, str]:
    """File name -> exact file content for every committed schema."""
    return {JOB_SCHEMA_FILE: render(job_schema()), MANIFEST_SCHEMA_FILE: render(manifest_schema())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m necroflow.schemas.export",
        description="Write the JSON Schemas of job TOMLs and manifest.toml.",
    )
    parser.add_argument(
        "directory", nargs="?", default="json-schema", help="target folder (default: json-schema)"
    )
    parser.add_argument(
        "--check", action="store_true", help="only compare; exit 1 if files are stale"
    )
    args = parser.parse_args(argv)
    target = Path(args.directory)
    stale = []
    for name, text in schema_files().items():
        path = target / name
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            target.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if args.check:
        for path in stale:
            print(
                f"{path}: out of date; run python -m necroflow.schemas.export {target}",
                file=sys.stderr,
            )
        return 1 if stale else 0
    for path in stale:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
