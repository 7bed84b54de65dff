"""Progressive ResNet18 training on a budget: public names of the library."""
import importlib

# name -> module that defines it (imported on first use)
_EXPORTS = {
    "UserError": "errors",
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'lib' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
