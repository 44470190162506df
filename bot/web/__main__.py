"""``python -m bot.web``: serve the web playground (same options as ``tunesmith web``)."""

import sys

from bot.web.server import main

sys.exit(main(sys.argv[1:]))
