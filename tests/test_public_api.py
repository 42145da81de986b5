from __future__ import annotations

import lacuna


def test_all_is_sorted_and_matches_public_names():
    assert lacuna.__all__ == sorted(lacuna.__all__)
    import types

    # submodules become attributes once imported (by this or another test); they are not API.
    # `classify` and `anonymize` are verbs that shadow their packages.
    public = {
        n
        for n in dir(lacuna)
        if not n.startswith("_") and not isinstance(getattr(lacuna, n), types.ModuleType)
    }
    modules = {"annotations"}  # `from __future__ import annotations`
    namespaces = {"datasets"}  # `lacuna.datasets.get(...)`: a module that is public API
    assert set(lacuna.__all__) == (public - modules) | namespaces


def test_root_does_not_import_pandas_integration_eagerly():
    import subprocess
    import sys

    code = (
        "import sys, lacuna; "
        "print('lacuna.integrations.pandas' in sys.modules, 'regorus' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_governance_violation_is_a_permission_error():
    assert issubclass(lacuna.GovernanceViolation, PermissionError)
    assert issubclass(lacuna.GovernanceViolation, lacuna.LacunaError)


def test_verbs_stay_bound_after_their_subpackages_are_imported():
    import importlib

    importlib.import_module("lacuna.classify.rollup")
    importlib.import_module("lacuna.anonymize")
    assert callable(lacuna.classify)
    assert lacuna.classify.__module__.startswith("lacuna.classify")
    assert callable(lacuna.anonymize)
