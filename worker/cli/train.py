"""``tunesmith train --style NAME --midi-dir DIR``: the /finetune job from the command line, same checks."""

from __future__ import annotations

import argparse
import base64
import json
import logging
import sys
from pathlib import Path

from worker.contract.tracks import UPLOAD_EXTENSIONS, UPLOAD_MAX_FILE_BYTES, BadRequest
from worker.contract.training import DEFAULT_STEPS, FinetuneRequest

MAX_DIR_FILES = 20_000  # files taken from one folder (its sub-folders included)


def folder_uploads(folder: Path) -> tuple[list[dict[str, str]], list[tuple[str, str]]]:
    """The MIDI and .zip files under ``folder`` as uploads, with no cap on their number but Discord's; each is
    checked later exactly as an attachment is (worker.jobs.uploads). Links and files over the size cap are refused
    here without being read."""
    uploads, refused = [], []
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in UPLOAD_EXTENSIONS)
    for path in paths[:MAX_DIR_FILES]:
        name = str(path.relative_to(folder))
        if path.is_symlink() or not path.is_file():
            refused.append((name, "not a regular file"))
        elif path.stat().st_size > UPLOAD_MAX_FILE_BYTES:
            refused.append((name, f"file too large (over {UPLOAD_MAX_FILE_BYTES / 1e6:g} MB)"))
        else:
            uploads.append({"name": name, "data": base64.b64encode(path.read_bytes()).decode()})
    refused += [(str(p.relative_to(folder)), f"more than {MAX_DIR_FILES} files") for p in paths[MAX_DIR_FILES:]]
    return uploads, refused


def finetune_main(argv: list[str] | None = None) -> int:
    """Fine-tune a style on a folder of MIDI files (and .zip files of them) and make it the serving version."""
    parser = argparse.ArgumentParser(prog="tunesmith train", description=finetune_main.__doc__)
    parser.add_argument("--style", required=True, help="the style to create or train further, e.g. pokemon")
    parser.add_argument("--midi-dir", type=Path, required=True)
    parser.add_argument(
        "--from",
        dest="base",
        default=None,
        help="the style whose model to start from (default: the style itself, or folk)",
    )
    parser.add_argument("--arch", default="lstm", help="lstm, wavenet or gan")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if not args.midi_dir.is_dir():
        print(f"error: {args.midi_dir} is not a directory", file=sys.stderr)
        return 1
    uploads, skipped = folder_uploads(args.midi_dir)
    for name, why in skipped:
        print(f"refused {name}: {why}")
    if not uploads:
        print(f"error: no .mid, .midi or .zip files in {args.midi_dir}", file=sys.stderr)
        return 1
    request = FinetuneRequest(
        style=args.style, arch=args.arch, base=args.base, steps=args.steps, uploads=uploads, user_id="cli"
    )
    from worker.jobs.finetune_job import finetune
    from worker.jobs.uploads import cli_limits

    try:
        result = finetune(request.to_dict(), limits=cli_limits(len(uploads)))
    except BadRequest as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for item in result["refused"]:
            print(f"refused {item['name']}: {item['reason']}")
        print(
            f"{result['style']}/{result['arch']} v{result['version']} ({result.get('kind', 'melody')}, polyphony "
            f"{result.get('polyphony', '?')}) is live: {result['steps']} steps in "
            f"{result['minutes']} min, held-out NLL {result['heldout_nll_before']} → "
            f"{result['heldout_nll_after']} nats/token; loss curve {result['loss_png']}"
        )
    return 0
