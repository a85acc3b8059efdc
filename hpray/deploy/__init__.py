"""A study run elsewhere: as a Ray job on a running cluster (``submit``), or as Kubernetes
manifests (``k8s``). Both compose the config here first, so bad input fails at once.

May import ``config``, ``store`` and ``errors``.
"""
