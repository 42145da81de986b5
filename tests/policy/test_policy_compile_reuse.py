"""A bundle parsed and compiled once per content: read again, it is not parsed or compiled again;
changed, broken or on another thread, it is."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lacuna.errors import PolicyError
from lacuna.policy import PolicyEngine, bundle, compile
from lacuna.policy.bundle import read_bundle
from lacuna.policy.compile import compile_bundle

ALLOW_READ = 'package p\n\nimport rego.v1\n\nallow if input.action == "read"\n'
ALLOW_ALL = "package p\n\nimport rego.v1\n\nallow := true\n"
BROKEN = "package p\n\nimport rego.v1\n\nallow if {\n  input.action ==\n}\n"
UNSAFE = "package p\n\nimport rego.v1\n\nallow if x == 1\n"  # parses, does not compile


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the modules parsed into an engine (read or compiled), in order."""
    seen: list[str] = []
    real = bundle._add

    def counting(engine, module, version):  # type: ignore[no-untyped-def]
        seen.append(module.relpath)
        return real(engine, module, version)

    monkeypatch.setattr(bundle, "_add", counting)
    return seen


def test_same_bundle_is_parsed_and_compiled_once(write_bundle, parses: list[str]) -> None:
    root = write_bundle({"p.rego": ALLOW_READ})
    first = PolicyEngine(root)
    assert parses == ["p.rego", "p.rego"]  # read (checked), then compiled
    second = PolicyEngine(root)
    assert parses == ["p.rego", "p.rego"]  # the same content: neither again
    for engine in (first, second):
        assert engine.evaluate({"action": "read"}).allowed
        assert not engine.evaluate({"action": "export"}).allowed
    assert second.revision == first.revision
    assert second.packages == first.packages


def test_a_changed_file_is_parsed_and_compiled_again(write_bundle, parses: list[str]) -> None:
    root = write_bundle({"p.rego": ALLOW_READ})
    assert not PolicyEngine(root).evaluate({"action": "export"}).allowed
    (root / "p.rego").write_text(ALLOW_ALL, encoding="utf-8")
    engine = PolicyEngine(root)
    assert parses == ["p.rego"] * 4
    assert engine.evaluate({"action": "export"}).allowed


def test_other_settings_are_another_engine(write_bundle) -> None:
    """The data document (``data.lacuna``: governed roots, docs link) is part of what is kept."""
    root = write_bundle({"p.rego": 'package p\n\nimport rego.v1\n\n'
                                   'allow if data.lacuna.docs_url == "https://a"\n'})
    a = PolicyEngine(root, settings={"docs_url": "https://a"})
    b = PolicyEngine(root, settings={"docs_url": "https://b"})
    assert a.evaluate({"action": "read"}).allowed
    assert not b.evaluate({"action": "read"}).allowed


@pytest.mark.parametrize(("text", "says"), [(BROKEN, "expecting expression"),
                                           (UNSAFE, "does not compile")])
def test_a_broken_bundle_fails_every_time(write_bundle, text: str, says: str) -> None:
    root = write_bundle({"p.rego": text})
    for _ in range(2):
        with pytest.raises(PolicyError, match=says):
            PolicyEngine(root)


def test_a_kept_engine_is_cloned_not_shared(write_bundle) -> None:
    """Each compile gives an engine of its own: input and data set on one never reach another."""
    found = read_bundle(write_bundle({"p.rego": 'package p\n\nimport rego.v1\n\n'
                                                'x := input.v\n'}))
    one, two = compile_bundle(found, {}), compile_bundle(found, {})
    assert one is not two
    one.set_input({"v": 1})
    two.add_data_json('{"extra": 2}')
    assert one.eval_rule_as_json("data.p.x") == "1"
    assert two.eval_rule_as_json("data.p.x") == '"<undefined>"'
    assert one.eval_query("data.extra") == {"result": []}
    assert two.eval_query("data.extra")["result"]


def test_another_thread_compiles_its_own(write_bundle, parses: list[str]) -> None:
    """Only the main thread keeps engines (regorus engines are unsendable: one kept by a daemon
    thread would be dropped by the main thread at exit); another thread compiles each time."""
    found = read_bundle(write_bundle({"p.rego": ALLOW_READ}))
    compile_bundle(found, {})  # kept by the main thread
    parses.clear()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(2):
                compile_bundle(found, {}).set_input({"action": "read"})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert errors == []
    assert parses == ["p.rego", "p.rego"]


def test_kept_engines_are_bounded(write_bundle) -> None:
    for i in range(compile._COMPILED_KEPT + 3):
        compile_bundle(read_bundle(write_bundle({"p.rego": f"package p\n\nx := {i}\n"})), {})
    assert len(compile._COMPILED) == compile._COMPILED_KEPT
    assert len(bundle._PARSED) <= bundle._PARSED_KEPT


def test_the_shown_path_is_part_of_what_is_kept(tmp_path: Path) -> None:
    """The same text in two folders: an error names each file's own path."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "p.rego").write_text(BROKEN, encoding="utf-8")
        with pytest.raises(PolicyError, match=str(tmp_path / name / "p.rego")):
            read_bundle(tmp_path / name)
    for name in ("c", "d"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "p.rego").write_text(ALLOW_ALL, encoding="utf-8")
        found = read_bundle(tmp_path / name)
        assert [m.path for m in found.modules] == [str(tmp_path / name / "p.rego")]


def test_a_file_holding_a_separator_is_not_taken_for_two() -> None:
    """One file whose text holds NUL, a path, a version and more Rego is not the two files it
    spells: what is kept is keyed by each part with its length."""
    from lacuna.policy.bundle import Bundle, RegoModule

    def made(*modules: tuple[str, str]) -> Bundle:
        return Bundle(root="/b", modules=tuple(
            RegoModule(path=path, relpath=path.lstrip("/"), source=source, package="p")
            for path, source in modules))

    two = made(("/b/a.rego", "package a\n\nx := 1\n"), ("/b/b.rego", "package b\n\ny := 2\n"))
    one = made(("/b/a.rego", "package a\n\nx := 1\n\0/b/b.rego\0v1\0package b\n\ny := 2\n"))
    assert compile_bundle(two, {}).get_packages() == ["data.a", "data.b"]
    assert compile_bundle(one, {}).get_packages() == ["data.a"]  # regorus stops at the NUL
    assert [m.package for m in bundle._parsed(two.modules, "auto")] == ["a", "b"]
    assert [m.package for m in bundle._parsed(one.modules, "auto")] == ["a"]


def test_an_analysis_is_not_taken_from_the_two_files_one_file_spells(write_bundle) -> None:
    """The analysis kept per bundle (packages, input paths, non-deterministic calls) is keyed
    by each part with its length too: a file spelling two files gets its own."""
    a = 'package a\n\nimport rego.v1\n\nallow if input.action == "read"\n'
    b = 'package b\n\nimport rego.v1\n\nallow if input.action == "read"\n'
    root = write_bundle({"a.rego": a, "b.rego": b})
    assert [p.name for p in PolicyEngine(root).packages] == ["a", "b"]
    (root / "b.rego").unlink()
    (root / "a.rego").write_text(f"{a}\0{root / 'b.rego'}\0v1\0{b}", encoding="utf-8")
    assert [p.name for p in PolicyEngine(root).packages] == ["a"]
