"""``tunesmith train --style NAME --midi-dir DIR``: the /finetune job from the command line, same checks."""

from __future__ import annotations

import argparse
import base64
import io
import json
import logging
import sys
import zipfile
from pathlib import Path

from worker.contract.tracks import UPLOAD_EXTENSIONS, UPLOAD_MAX_FILES, BadRequest
from worker.contract.training import DEFAULT_STEPS, FinetuneRequest


def finetune_main(argv: list[str] | None = None) -> int:
    """Fine-tune a style on a folder of MIDI files (and .zip files of them) and make it the serving version."""
    parser = argparse.ArgumentParser(prog="tunesmith train", description=finetune_main.__doc__)
    parser.add_argument("--style", required=True, help="the style to create or train further, e.g. pokemon")
    parser.add_argument("--midi-dir", type=Path, required=True)
    parser.add_argument("--from", dest="base", default=None,
                        help="the style whose model to start from (default: the style itself, or folk)")
    parser.add_argument("--arch", default="lstm", help="lstm, wavenet or gan")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if not args.midi_dir.is_dir():
        print(f"error: {args.midi_dir} is not a directory", file=sys.stderr)
        return 1
    files = sorted(p for p in args.midi_dir.iterdir() if p.is_file() and p.suffix.lower() in UPLOAD_EXTENSIONS)
    if len(files) > UPLOAD_MAX_FILES:  # more files than /finetune takes: send them as one zip, as a user would
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.name)
        uploads = [{"name": f"{args.midi_dir.name}.zip", "data": base64.b64encode(buffer.getvalue()).decode()}]
    else:
        uploads = [{"name": p.name, "data": base64.b64encode(p.read_bytes()).decode()} for p in files]
    request = FinetuneRequest(style=args.style, arch=args.arch, base=args.base, steps=args.steps, uploads=uploads,
                              user_id="cli")
    from worker.jobs.finetune_job import finetune

    try:
        result = finetune(request.to_dict())
    except BadRequest as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for item in result["refused"]:
            print(f"refused {item['name']}: {item['reason']}")
        print(f"{result['style']}/{result['arch']} v{result['version']} is live: {result['steps']} steps in "
              f"{result['minutes']} min, held-out NLL {result['heldout_nll_before']} → "
              f"{result['heldout_nll_after']} nats/token; loss curve {result['loss_png']}")
    return 0
