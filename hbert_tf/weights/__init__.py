"""Where weights come from: run folders, released checkpoints, starting points."""
