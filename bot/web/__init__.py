"""The web playground: every feature in a browser, on the bot's queue, database and files."""
