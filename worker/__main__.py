"""``python -m worker``: run the RQ worker (same options as ``tunesmith worker``)."""

import sys

from worker.cli.main import main

sys.exit(main(["worker", *sys.argv[1:]]))
