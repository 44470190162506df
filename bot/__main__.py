"""`python -m bot` runs the Discord bot."""

import sys

from bot.main import main

sys.exit(main())
