"""URL dialects. Each module registers its parsers with `edge.dialects.query_dialect` (a query
such as `x-oss-process=...`) or `edge.dialects.key_dialect` (instructions in the key, such as
`photo.jpg@!thumb`).

Importing this package imports every module in it.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
