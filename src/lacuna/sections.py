"""Settings sections: the one way a section of ``lacuna.yaml`` (or of another settings file) is
modelled, validated and reported.

- :class:`Section`: the base model of every settings section: frozen, unknown keys refused.
- :func:`validate_section`: a mapping to a section, or one :class:`~lacuna.errors.ConfigError`
  that names the file, the line (when known), the dotted key and what to do (the nearest valid
  key for a misspelt one, the valid keys otherwise, the docs page).
- :func:`explain`: the same message for a ``ValidationError`` the caller caught itself.
- :class:`Origin`: where the settings came from (the file and the line of every key). The
  top-level validation passes it to nested sections in pydantic's validation context
  (:func:`origin_of`), so a section validated inside ``Config`` names the file's lines too.

Example:
    >>> class Limits(Section):
    ...     rows: int = 10
    >>> try:
    ...     validate_section(Limits, {"rwos": 5}, prefix=("limits",), title="limits")
    ... except ConfigError as exc:
    ...     print(exc)
    <config>: invalid limits:
      - <config>: limits.rwos: unknown setting; did you mean 'rows'?
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Self, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, model_validator

from lacuna.errors import ConfigError
from lacuna.model import FrozenDict

Key = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
# a section's own wording for an error it knows better: (pydantic's error, dotted key) ->
# "key: what to do", or None for the default wording
Special = Callable[[Mapping[str, Any], str], "str | None"]


_IMMUTABLE = ("lacuna settings are immutable once validated: build new ones instead "
              "(config.model_copy(update={...}), or lacuna.governor.build_config(...))")


class SettingsDict(FrozenDict):
    """A mapping of validated settings: refuses every change (:class:`lacuna.model.FrozenDict`)."""

    __slots__ = ()
    refusal = _IMMUTABLE


def _refuse(*_: Any, **__: Any) -> Any:
    raise TypeError(_IMMUTABLE)


class SettingsList(list[Any]):
    """A list of validated settings, refusing every change as :class:`SettingsDict` does."""

    __slots__ = ()

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = clear = extend = insert = pop = remove = reverse = sort = _refuse

    def __reduce__(self) -> tuple[Any, ...]:  # copy, deepcopy and pickle without append
        return (SettingsList, (list(self),))


# YAML writes them as the mapping and the list they are (its representers go by exact type)
yaml.SafeDumper.add_representer(SettingsDict, yaml.SafeDumper.represent_dict)
yaml.SafeDumper.add_representer(SettingsList, yaml.SafeDumper.represent_list)


def frozen(value: Any) -> Any:
    """``value`` with every ``dict`` and ``list`` in it made a :class:`SettingsDict` or
    :class:`SettingsList` (sets a ``frozenset``); anything else as it is."""
    if isinstance(value, dict) and not isinstance(value, FrozenDict):
        return SettingsDict({k: frozen(v) for k, v in value.items()})
    if isinstance(value, list) and not isinstance(value, SettingsList):
        return SettingsList(frozen(v) for v in value)
    if isinstance(value, set):
        return frozenset(value)
    return value


class Section(BaseModel):
    """A settings section: immutable all the way down (its mappings and lists too:
    :func:`frozen`), and a key it does not define is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="after")
    def _frozen(self) -> Any:
        for name, value in self.__dict__.items():
            if isinstance(value, dict | list | set):
                object.__setattr__(self, name, frozen(value))
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None,
                   deep: bool = False) -> Self:
        """pydantic's copy (``update`` is not validated, as there), with what ``update`` put in
        frozen too: a copy is as immutable as the settings it was made from."""
        copied = super().model_copy(update=update, deep=deep)
        for name in update or ():
            value = copied.__dict__.get(name)
            if isinstance(value, dict | list | set):
                object.__setattr__(copied, name, frozen(value))
        return copied


@dataclass(frozen=True, slots=True)
class Origin:
    """Where settings came from: ``where`` (a file, or a description) and the 1-based line of
    every key in it (dotted keys as tuples, from :func:`lacuna.config.parse_yaml`)."""

    where: str = "<config>"
    lines: Mapping[Key, int] = field(default_factory=dict)

    def at(self, key: Key) -> str:
        """``where:line`` for the deepest known prefix of ``key`` (``where`` when unknown)."""
        for end in range(len(key), 0, -1):
            line = self.lines.get(tuple(key[:end]))
            if line is not None:
                return f"{self.where}:{line}"
        return self.where


def origin_of(info: ValidationInfo | None) -> Origin:
    """The :class:`Origin` the top-level validation put in pydantic's context (or none)."""
    context = getattr(info, "context", None)
    found = context.get("origin") if isinstance(context, Mapping) else None
    return found if isinstance(found, Origin) else Origin()


def validate_section(model: type[M], raw: Any, *, prefix: Key = (), origin: Origin | None = None,
                     title: str = "settings", docs: str | None = None,
                     special: Special | None = None) -> M:
    """``raw`` (a mapping; None for the defaults) validated as ``model``.

    Args:
        prefix: where the section sits in the file (``("dbt",)``): keys are named from the top.
        origin: the file and its key lines; nested sections get it from :func:`origin_of`.
        title: what the section is called in the message (``retention settings``).
        docs: the page that documents the section (``docs/retention.md``).
        special: the section's own wording for errors it knows better (None: the default).

    Raises:
        ConfigError: not a mapping, an unknown key or a bad value; see :func:`explain`.
    """
    origin = origin or Origin()
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        key = ".".join(str(p) for p in prefix) or "(top level)"
        msg = (f"{origin.at(prefix)}: {key}: expected a mapping of settings, got "
               f"{type(raw).__name__}" + (f" (see {docs})" if docs else ""))
        raise ConfigError(msg)
    try:
        return model.model_validate(dict(raw), context={"origin": origin})
    except ValidationError as exc:
        raise ConfigError(explain(exc, model, prefix=prefix, origin=origin, title=title,
                                  docs=docs, special=special)) from None


def explain(exc: ValidationError, model: type[BaseModel], *, prefix: Key = (),
            origin: Origin | None = None, title: str = "settings", docs: str | None = None,
            special: Special | None = None, dotted: Callable[[Key], str] | None = None) -> str:
    """One message for all of ``exc``'s problems: a header naming the file and line of the
    first, one ``- file:line: dotted.key: what to do`` line each, then the docs page.
    ``dotted`` writes a key (``prefix`` and pydantic's loc) as the user wrote it; default: the
    parts joined with dots."""
    origin = origin or Origin()
    dotted = dotted or (lambda loc: ".".join(str(p) for p in loc))
    # unknown keys first: a misspelt key also makes its correct spelling "missing"
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    entries = []
    for err in errors:
        loc = (*prefix, *err["loc"])
        key = dotted(loc) or "(top level)"
        said = special(err, key) if special is not None else None
        if said is None and err["type"] == "extra_forbidden":
            said = f"{key}: unknown setting" + _nearest(
                str(err["loc"][-1]), allowed_keys(model, tuple(err["loc"][:-1])))
        elif said is None and err["type"] in _SHAPES:
            said = f"{key}: {_SHAPES[err['type']]}, got {_shown(err.get('input'))}"
        elif said is None:
            said = f"{key}: " + str(err["msg"]).removeprefix("Value error, ")
        entries.append(f"  - {origin.at(loc)}: {said}")
    first = origin.at((*prefix, *errors[0]["loc"])) if errors else origin.where
    footer = [f"See {docs} for the {title}."] if docs else []
    return "\n".join([f"{first}: invalid {title}:", *entries, *footer])


def parsed(parse: Callable[[Any], T], value: Any) -> T:
    """``parse(value)`` inside a field validator: a :class:`ConfigError` it raises (``unknown
    tier 'SECRET'; expected one of: ...``) becomes a ``ValueError``, so pydantic reports it with
    the key and :func:`explain` with the file's line (a ConfigError would escape without them)."""
    try:
        return parse(value)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


# pydantic's wording for a list setting given one value ("Input should be a valid tuple")
_SHAPES = dict.fromkeys(("tuple_type", "list_type"), "expected a list (e.g. [a, b]; one item: [a])")


def _nearest(key: str, valid: list[str]) -> str:
    near = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    if near:
        return f"; did you mean {near[0]!r}?"
    return f"; valid keys: {', '.join(valid)}" if valid else "; check the spelling"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def allowed_keys(root: Any, loc: tuple[Any, ...]) -> list[str]:
    """The keys valid at ``loc`` under ``root`` (a model class), following pydantic's loc."""
    node: Any = root
    for part in loc:
        node = _step(node, part)
        if node is None:
            return []
    node = _unwrap(node)
    if isinstance(node, type) and issubclass(node, BaseModel):
        return list(node.model_fields)
    if get_origin(node) is dict:
        key = get_args(node)[0]
        return [str(a) for a in get_args(key)] if get_origin(key) is Literal else []
    return []


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) in (Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        if len(options) == 1:
            return _unwrap(options[0])
    return tp


def _step(node: Any, part: Any) -> Any:
    node = _unwrap(node)
    if isinstance(node, type) and issubclass(node, BaseModel):
        found = node.model_fields.get(str(part))
        return found.annotation if found is not None else None
    origin = get_origin(node)
    if origin in (tuple, list) and isinstance(part, int):
        return get_args(node)[0]
    if origin is dict:
        return get_args(node)[1]
    if origin in (Union, types.UnionType):  # a discriminated union: pick by the tag
        for option in get_args(node):
            opt = _unwrap(option)
            if isinstance(opt, type) and issubclass(opt, BaseModel):
                tag = opt.model_fields.get("type")
                if tag is not None and part in get_args(tag.annotation):
                    return opt
    return None


__all__ = ["Key", "Origin", "Section", "allowed_keys", "explain", "origin_of", "parsed",
           "validate_section"]
