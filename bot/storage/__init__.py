"""The bot's database: tracks, votes, deliveries and quotas."""
