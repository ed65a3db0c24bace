"""Processing operations. Each module registers one `Operation` with `@operation`.

Importing this package imports every module in it, so adding an operation is
adding one file. Modules whose name starts with `_` hold helpers that several
operations share; they register nothing.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
