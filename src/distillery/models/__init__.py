"""Model sources and built-in architectures; see :func:`create_model`."""
from .base import Network, count_params
from .registry import builtin_models, create_model, list_models, register_family, register_model, register_source

__all__ = ["Network", "builtin_models", "count_params", "create_model", "list_models", "register_family",
           "register_model", "register_source"]
