"""Where a study lives (``location``: a path or a URI, one interface) and the format of its
directory (``layout``: every file name, and the readers of its records).

The bottom layer with ``errors``: imports no other part of hpray, and neither Ray nor torch.
"""
