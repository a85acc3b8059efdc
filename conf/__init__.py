"""Packaged Hydra config tree (the repo-level conf/ directory).

Importing it (Hydra does, to read pkg://hpray.conf) registers the typed settings blocks that
study.yaml's defaults list names first, so every composition of this tree gets them.
"""

import hpray.config.schema  # noqa: F401  (registers hpray_settings in Hydra's ConfigStore)
