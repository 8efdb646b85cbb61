"""Model registry: talking-head models are found through the ``talkstream.models`` entry-point group."""

from __future__ import annotations

from importlib.metadata import entry_points

from app.inference.model import TalkingHeadModel

__all__ = ["ENTRY_POINT_GROUP", "available_models", "load_model"]

ENTRY_POINT_GROUP = "talkstream.models"
_BUILTIN = "builtin"


def available_models() -> list[str]:
    """Names of every registered model (the built-in one is always there)."""
    names = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(names | {_BUILTIN})


def load_model(name: str = _BUILTIN, device: str | None = None) -> TalkingHeadModel:
    """Instantiate the model registered as ``name``; raises ``LookupError`` for an unknown name."""
    if name == _BUILTIN:  # works from a source checkout too, without installed entry points
        from app.inference.builtin import BuiltinModel

        return BuiltinModel(device=device)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            model: object = ep.load()(device=device)
            if not isinstance(model, TalkingHeadModel):
                raise TypeError(f"entry point {name!r} did not produce a TalkingHeadModel")
            return model
    raise LookupError(f"unknown model {name!r}; available: {', '.join(available_models())}")
