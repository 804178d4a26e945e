"""Deep supervision inside other training stacks: ``lightning``, ``hf``, ``timm``, ``monai``.

Each module is a thin adapter from a framework's own hooks to :func:`tapfinder.attach` and the
losses of :mod:`deepsup.losses`, imported only when used (each framework is an optional extra).
"""
