"""``anonymize(df, ...)``: treat personal columns and re-classify the result.

Re-classification rules (DESIGN.md: "anonymization records which columns it treated and
re-classifies accordingly"):

- **treated columns** get the class their strategy says the output is (``Strategy.classify``;
  layer ``declared``), with the strategy, its key id+version or epsilon, and the former class in
  their reasoning and evidence: ``hash``/``tokenize``/``fpe`` give an ``identifier`` (a
  pseudonym: not anonymous while the key or vault exists), ``generalize`` an ``identifier`` with
  ``pii_type`` ``quasi_identifier``, ``mask``/``redact``/``noise`` ``public``. None of them counts
  as PII or PHI any more;
- **other columns** keep their class; tier and column tags are recomputed from the columns
  (:func:`lacuna.classify.rollup.rollup`);
- **table tags**: once no personal column is left, personal tags (``classification.personal_tags``
  plus the tags the mapping gives ``pii``/``phi`` columns) are dropped; while one is left, every
  source tag stays. Other tags (``FINANCIAL``, ``SENSITIVE_TERM``, ``DERIVED_FROM_PII``, your own)
  are always kept, and ``ANONYMIZED`` is added;
- **floor**: the source floor is kept, except when it came only from personal data, which is taken
  to mean: every table-level tag of the source (a tag no column implies) is personal, there is at
  least one, and no personal column survives. Then the floor drops to ``PUBLIC`` and the tier
  follows the columns. A floor without tags (a declared tier, a registry entry) is always kept;
- **lineage**: a new node ``anonymize.<strategy>`` whose parent is the source's lineage.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lacuna._bypass import bypass
from lacuna.anonymize.base import (
    Context,
    Strategy,
    UnknownColumnError,
    describe,
    output_class,
    strategies,
)
from lacuna.anonymize.budget import Charge, spend, subjects_of
from lacuna.anonymize.keys import resolve
from lacuna.classify.rollup import column_tags, rollup
from lacuna.config import Config, active_config
from lacuna.lineage.frames import attach, effective_state, masked_origins
from lacuna.lineage.state import LineageNode
from lacuna.model import ANONYMIZED, ColumnClass, ColumnKind, Layer, Tier

if TYPE_CHECKING:
    import pandas as pd

    from lacuna.model import Classification


def anonymize(
    df: pd.DataFrame,
    columns: Sequence[str] | str | None = None,
    strategy: str | Mapping[str, str] | None = None,
    *,
    key: bytes | str | None = None,
    config: Config | None = None,
    pii_columns: Sequence[str] | str | None = None,
) -> pd.DataFrame:
    """A copy of ``df`` with personal columns anonymized and its classification rebuilt.

    Args:
        df: the frame; it is never modified.
        columns: the columns to treat; ``None`` treats every PII/PHI column of the frame's
            classification (classified on the spot if the frame has none).
        strategy: one name for every column (``hash``, ``tokenize``, ``fpe``, ``generalize``,
            ``mask``, ``redact``, ``noise`` or any registered strategy), a mapping
            ``{"email": "hash", "dob": "generalize"}`` (columns not named get the default), or
            ``None``: per column by its ``pii_type`` from ``anonymize.strategies`` in
            ``lacuna.yaml``, else ``anonymize.default_strategy`` (``hash``).
        key: the ``hash`` key; default: ``$LACUNA_ANONYMIZE_KEY``, else a key generated once in
            ``$LACUNA_HOME/anonymize.key`` (see :mod:`lacuna.anonymize.keys`).
        config: settings; default: the enabled governor's (``lacuna.enable(config)``), else
            ``load_config()``.
        pii_columns: the seed's name for ``columns``.

    Returns:
        A new frame whose classification (``lacuna.lineage.state.get_state``) no longer counts the
        treated columns as personal and carries the ``ANONYMIZED`` tag.

    Raises:
        UnknownPluginError: no strategy by that name (the message suggests the closest one).
        UnknownColumnError: a column is not in the frame (the message lists the columns).
        ConfigError: the key is empty or shorter than 16 bytes, or the key file cannot be read
            or created.
        BudgetExhausted: a ``noise`` release would pass the privacy budget of a column it
            comes from (:mod:`lacuna.anonymize.budget`); nothing is spent or returned.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"email": ["jane@example.com", None]})
        >>> safe = anonymize(df, ["email"], strategy="mask")
        >>> safe["email"][0], safe["email"].isna().tolist()
        ('j***@e***.com', [False, True])
        >>> str(safe.attrs["lacuna"].classification), safe.attrs["lacuna"].classification.tags
        ('PUBLIC', ('ANONYMIZED',))
    """
    import pandas as pd

    if pii_columns is not None:
        if columns is not None:
            msg = "pass the columns once: either columns= or its alias pii_columns=, not both"
            raise TypeError(msg)
        columns = pii_columns
    if type(df).__module__.startswith("pyspark."):  # on the executors: lacuna.spark
        from lacuna.spark.anonymize import anonymize as spark_anonymize

        done: pd.DataFrame = spark_anonymize(df, columns, strategy, key=key, config=config)
        return done
    if not isinstance(df, pd.DataFrame):
        msg = f"anonymize() takes a pandas DataFrame, got {type(df).__name__}"
        raise TypeError(msg)
    if isinstance(strategy, str):
        strategies.get(strategy)  # UnknownPluginError first: cheapest mistake to report
    elif strategy is not None:
        for name in strategy.values():
            strategies.get(name)
    from lacuna.privacy import plain, under_governor

    # classified as the governor classifies (its mapping, the higher k): config= says how
    config = under_governor(config if config is not None else active_config())

    with bypass():
        source_state = effective_state(df, config.classification)  # the frame as it is now
        source = source_state.classification
        if isinstance(strategy, Mapping):
            # every column the mapping names must exist, also beside columns=[...]: a misspelt
            # one ({"emial": "redact"}) was ignored and e-mails got the default (hash) instead
            _columns_to_treat(df, list(strategy), source)
            if columns is None:
                columns = list(strategy)
        treated = _columns_to_treat(df, columns, source)
        get_key = functools.cache(lambda: resolve(key, config))
        out = df.copy(deep=False)
        out.attrs = dict(df.attrs)  # never share the input's attrs dict
        results: dict[str, ColumnClass] = {}
        used: dict[str, str] = {}
        charges: list[Charge] = []
        # By text, as the classification names columns: with labels 1 and "1" both are the
        # column "1" there, so treating only the one asked for relabelled the other (raw
        # e-mails) as redacted. Every column the treated label names is treated.
        wanted = {str(c) for c in treated}
        for pos, name in enumerate(df.columns):
            if str(name) not in wanted:
                continue
            before = source.columns.get(str(name))
            chosen = strategy_for(str(name), before, strategy, config)
            impl = strategies.get(chosen)()
            context = Context(column=str(name), column_class=before,
                              key=lambda: get_key().material, config=config)
            # a categorical column as its values (lacuna.privacy.plain)
            out.isetitem(pos, impl.apply(plain(df.iloc[:, pos]), context))
            if chosen == "hash":
                context.notes.append(f"keyed HMAC-SHA256, {get_key().ref}")
            results[str(name)] = impl.classify(before, context.notes)
            used[str(name)] = chosen
            cost = impl.privacy_cost(before, config)
            if cost > 0:  # spent below, once every column is done
                charges.append(Charge(str(name), cost, subjects_of(
                    str(name), source_state.origins.get(str(name), ()), df.iloc[:, pos])))
        for level in {str(n) for n in df.index.names if n is not None} & set(results):
            results[level] = _still_in_index(level, source.columns.get(level), used[level])
        names = sorted(set(used.values()))
        default = strategy if isinstance(strategy, str) else config.anonymize.default_strategy
        label = "+".join(names) if names else default
        if treated:
            result = reclassify(source, list(results), label, config, results=results)
            from lacuna.privacy import guard  # anonymous only when k-anonymity holds

            result = guard(out, df, source, result, [str(c) for c in results], label, config)
        else:
            result = source
        spend(config, charges)  # all or nothing; refused: no frame
        lineage = LineageNode(name=None, operation=f"anonymize.{label}",
                              parents=(source_state.lineage,))
        attach(out, result, lineage,  # with fingerprints of the anonymized content
               origins=masked_origins(source_state.origins, used))  # masking column edges
    return out


def _columns_to_treat(
    df: pd.DataFrame, columns: Sequence[str] | str | None, source: Classification
) -> list[Any]:
    present = list(dict.fromkeys(df.columns))
    if columns is None:
        personal = set(source.personal_columns)
        return [c for c in present if str(c) in personal]
    wanted = [columns] if isinstance(columns, str) else list(columns)
    by_text = {str(c): c for c in present}
    chosen: list[Any] = []
    for name in wanted:
        if name in present:
            chosen.append(name)
        elif str(name) in by_text:
            chosen.append(by_text[str(name)])
        else:
            names = [str(c) for c in present]
            close = difflib.get_close_matches(str(name), names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            listed = ", ".join(names[:30]) + (" …" if len(names) > 30 else "")
            msg = f"cannot anonymize column {name!r}: the frame has no such column.{hint} " \
                  f"Columns: {listed}."
            raise UnknownColumnError(msg, column=str(name))
    return list(dict.fromkeys(chosen))


def strategy_for(
    column: str,
    before: ColumnClass | None,
    strategy: str | Mapping[str, str] | None,
    config: Config,
) -> str:
    """The strategy for one column: the one named, the mapping's entry, or by ``pii_type``."""
    if isinstance(strategy, str):
        return strategy
    if strategy is not None and column in strategy:
        return strategy[column]
    settings = config.anonymize
    pii_type = before.pii_type if before is not None else None
    if pii_type and pii_type in settings.strategies:
        return settings.strategies[pii_type]
    return settings.default_strategy


def reclassify(
    source: Classification,
    treated: Sequence[str],
    strategy: str,
    config: Config,
    *,
    results: Mapping[str, ColumnClass] | None = None,
) -> Classification:
    """The classification after ``treated`` columns were anonymized (rules: module docstring).

    ``results`` holds each treated column's new class (``Strategy.classify``); a column it does
    not list gets the class ``strategy`` gives it (no key or epsilon noted: a dry run).
    """
    cc = config.classification
    columns: dict[str, ColumnClass] = dict(source.columns)
    for name in treated:
        if results is not None and name in results:
            columns[name] = results[name]
            continue
        impl: Strategy = strategies.get(strategy)() if strategy in strategies else _Public()
        columns[name] = impl.classify(columns.get(name), ())
    personal_kinds = (ColumnKind.PII, ColumnKind.PHI)
    personal_tags = set(cc.personal_tags) | {t for k in personal_kinds for t in cc.rule_for(k).tags}
    implied = {t for c in source.columns.values() for t in column_tags(c, cc)}
    table_tags = [t for t in source.tags if t not in implied]
    still_personal = any(c.is_personal for c in columns.values())
    floor = source.floor
    if table_tags and all(t in personal_tags for t in table_tags) and not still_personal:
        floor = Tier.PUBLIC
    if still_personal:  # personal data remains: every source tag still applies
        extra = [*source.tags, ANONYMIZED]
    else:
        extra = [*(t for t in source.tags if t not in personal_tags), ANONYMIZED]
    reason = f"anonymized {', '.join(treated)} with {strategy}"
    return rollup(columns, cc, floor=floor, extra_tags=extra, reasoning=[reason],
                  layer=Layer.INHERITED)


def _still_in_index(name: str, before: ColumnClass | None, strategy: str) -> ColumnClass:
    """The class of a treated column whose label an index level shares: the classification
    names both ``name``, and the index (written by ``to_csv`` by default) still holds the
    original values, so the label keeps its class (``pii`` when it had none). Before, the
    column's new class covered the index: raw e-mails in the index, a PUBLIC frame."""
    from dataclasses import replace

    why = (f"treated with {strategy}, but the index level {name!r} has the same name and still "
           "holds the original values, so it stays what it was; reset_index() (then anonymize "
           "that column too) or rename the index level, then anonymize again")
    if before is not None and before.is_personal:
        return replace(before, reasoning=f"{before.reasoning}; {why}")
    return output_class(strategy, before, (), kind="pii", sensitivity="high", what=why)


class _Public(Strategy):
    name = "anonymize"

    def apply(self, values: pd.Series, context: Context) -> pd.Series:  # pragma: no cover
        raise NotImplementedError

    def classify(self, before: ColumnClass | None, notes: Sequence[str]) -> ColumnClass:
        return output_class(self.name, before, notes, kind="public")


_describe = describe


def describe_strategies() -> Mapping[str, str]:
    """Registered strategy names and their one-line descriptions."""
    return {name: strategies.get(name).description for name in strategies.names()}
