"""tunesmith Discord bot: slash commands, buttons and delivery; imports no torch and no models."""
