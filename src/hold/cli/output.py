"""Output habits shared by the CLI's commands, written once.

- ``each``: Docker's multi-target commands (rm, stop, volume rm, ...) print
  each target that worked, report each failure on stderr as "Error response
  from daemon: ...", carry on, and exit 1 if any failed.
- ``confirm``: the y/N question of prune commands.
- ``print_documents``: inspect output, a JSON array or one --format line each.
"""

from __future__ import annotations

import json
import sys

from hold.errors import HoldError


def each(refs: list[str], action) -> int:
    failed = False
    for ref in refs:
        try:
            out = action(ref)
            if out is not None:
                print(out)
        except HoldError as exc:
            sys.stderr.write(f"Error response from daemon: {exc}\n")
            failed = True
    return 1 if failed else 0


def confirm(question: str) -> bool:
    sys.stdout.write(question)
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def print_documents(documents: list[dict], template: str | None) -> None:
    if template:
        from hold.cli.formatting import apply_format
        for document in documents:
            print(apply_format(template, document))
    else:
        print(json.dumps(documents, indent=4))
