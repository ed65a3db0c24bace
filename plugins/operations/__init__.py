"""Processing operations. Each module registers one `Operation` with `@operation`.

Importing this package imports every module in it, so adding an operation is
adding one file.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
