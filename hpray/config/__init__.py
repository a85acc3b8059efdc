"""The study config: composed by Hydra (``compose``), its settings checked (``settings``), every
part built (``build``, the one caller of Hydra's ``instantiate``) and prepared for the driver
(``prepare``: a validated ``Study``). ``branch_groups`` fills a branch's options from config
groups as the config is composed. ``app`` and ``optuna_sweeper`` read a Hydra app's sweeper
settings (``hydra.sweeper``) as a study's.

May import ``space``, ``search``, ``store``, ``data``, ``models``, ``errors`` and ``internals``;
never the driver, the trials or the results.
"""
