"""The torch-free job contract shared by the bot, the CLI and the worker (requests, results, queues, logs)."""
