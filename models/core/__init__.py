"""What every model family shares: checkpoints, the catalog of served styles, versions, data splits."""
