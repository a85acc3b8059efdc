"""Packaged Hydra config tree (the repo-level conf/ directory)."""
