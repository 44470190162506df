"""The slash commands, one cog per feature, each loaded as an extension by its ``setup()``."""
