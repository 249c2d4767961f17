"""``create_model(spec, num_classes)``: the single entry point for every model source (like timm's)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import DistilleryError
from .base import Network

_BUILTINS: dict[str, Callable[..., Network]] = {}
_SOURCES: dict[str, Callable[..., Network]] = {}
_FAMILIES: dict[str, Callable[..., Network]] = {}  # language-model networks: clm, mlm


def register_model(name: str) -> Callable[[Callable[..., Network]], Callable[..., Network]]:
    """Register a built-in architecture ``fn(num_classes, **kwargs) -> Network``."""

    def deco(fn: Callable[..., Network]) -> Callable[..., Network]:
        _BUILTINS[name] = fn
        return fn

    return deco


def register_source(prefix: str) -> Callable[[Callable[..., Network]], Callable[..., Network]]:
    """Register a model source ``prefix:`` with ``fn(name, num_classes, pretrained, **kwargs) -> Network``."""

    def deco(fn: Callable[..., Network]) -> Callable[..., Network]:
        _SOURCES[prefix] = fn
        return fn

    return deco


def register_family(name: str) -> Callable[[Callable[..., Network]], Callable[..., Network]]:
    """Register a network family ``fn(spec, vocab, block, **kwargs) -> Network`` (language models: ``clm``,
    ``mlm``), whose specs (``hf:<dir>``, ``clm:gpt2``, ``mlm:bert`` ...) ``create_model(..., family=name)`` builds."""

    def deco(fn: Callable[..., Network]) -> Callable[..., Network]:
        _FAMILIES[name] = fn
        return fn

    return deco


def _ensure_registered() -> None:
    from . import builtin_all  # noqa: F401  (importing registers the built-ins and sources)


def builtin_models() -> list[str]:
    """Names of the registered built-in architectures."""
    _ensure_registered()
    return sorted(_BUILTINS)


def list_models() -> list[str]:
    """Built-in names plus the ``prefix:<name>`` model sources."""
    _ensure_registered()
    return sorted(_BUILTINS) + [f"{p}:<name>" for p in sorted(_SOURCES)]


def create_model(spec: str, num_classes: int, pretrained: bool = False, weights: str | None = None,
                 family: str = "classifier", **kwargs: Any) -> Network:
    """Build a network from a spec: the single entry point for every model.

    Classifiers (``family="classifier"``): ``hf:<hub id or dir>`` (transformers), ``timm:<name>``,
    ``torchvision:<name>``, or a built-in name (``resnet20``, ``text_cnn``, ``transformer`` ...). ``pretrained``
    loads the source's pre-trained weights (hub sources); ``weights`` loads a local safetensors / torch file.
    Language models (``family="clm"`` or ``"mlm"``, with ``num_classes`` the vocabulary and ``block`` the sequence
    length): ``hf:<dir or id>`` (pre-trained), ``clm:gpt2``, ``clm:llama``, ``mlm:bert`` (from a config).
    """
    from .weights import load_weights

    _ensure_registered()
    if family != "classifier":
        if family not in _FAMILIES:
            raise DistilleryError(f"unknown model family {family!r}; known: classifier, {', '.join(_FAMILIES)}")
        return _FAMILIES[family](spec, num_classes, **kwargs)
    if ":" in spec and spec.split(":", 1)[0] in _SOURCES:
        prefix, name = spec.split(":", 1)
        if weights is not None and prefix in ("timm", "torchvision"):
            pretrained = False  # the local file holds the weights: nothing to download (offline use)
        net = _SOURCES[prefix](name, num_classes=num_classes, pretrained=pretrained, **kwargs)
    elif spec in _BUILTINS:
        try:
            net = _BUILTINS[spec](num_classes=num_classes, **kwargs)
        except (TypeError, ValueError, RuntimeError, ZeroDivisionError) as e:
            given = ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "none"
            raise DistilleryError(f"model {spec!r}: cannot be built with the arguments given ({given}): "
                                  f"{' '.join(str(e).split())[:200]}; see docs/configuration.md (kwargs)") from None
    else:
        known = ", ".join(list_models())
        raise DistilleryError(f"unknown model spec {spec!r}; known: {known}")
    net.num_classes = num_classes
    if weights is not None:
        load_weights(net, weights)
    return net
