"""URL dialects. Each module registers one parser with `edge.dialects.dialect`.

Importing this package imports every module in it.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
