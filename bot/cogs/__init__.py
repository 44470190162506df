"""Discord features of the bot, one module each."""
