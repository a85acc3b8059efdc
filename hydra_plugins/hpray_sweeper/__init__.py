"""hpray's Hydra sweeper: ``override /hydra/sweeper: hpray`` tunes an app with hpray.

Hydra imports every module under ``hydra_plugins`` to find its plugins; this package holds the
sweeper's config (registered as ``hydra/sweeper: hpray``) and the thin plugin class. The work is
done in ``hpray.sweeper``.
"""
