"""The engine catalogue (shotcache/engines.py) is the only source of engine names, defaults
and fallbacks; the registry, the job key and planning all follow it."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ml.pipeline.runner import PipelineRunner
from ml.pipeline.synthetic import make_shot
from ml.stages import base
from shotcache import engines as catalogue
from shotcache.schema import JobSpec

ROOT = Path(__file__).resolve().parents[3]
SOURCES = ("ml", "server", "app", "cli", "addon", "operators", "panels", "shotcache", "scripts")
ALL_NAMES = {e.name for e in catalogue.CATALOGUE}


def test_registry_matches_the_catalogue():
    registered = base.engines()
    assert set(registered) == {(e.stage, e.name) for e in catalogue.CATALOGUE}
    for (stage, name), cls in registered.items():
        row = catalogue.entry(stage, name)
        assert cls.learned == row.learned and cls.fallback == catalogue.fallback(stage, name)
    assert all(catalogue.CLASSICAL[s] in catalogue.ENGINES[s] for s in catalogue.STAGES)
    assert all(not catalogue.entry(s, n).learned for s, n in catalogue.CLASSICAL.items())


def test_register_refuses_an_engine_missing_from_the_catalogue():
    class Rogue(base.Engine):
        stage, name = "composite", "rogue"

    with pytest.raises(ValueError, match="not in the catalogue"):
        base.register(Rogue)
    assert ("composite", "rogue") not in base.engines()


def _name_lists(tree: ast.AST):
    """Literal tuples/lists/sets of >= 2 engine names, and dicts stage -> engine name."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            vals = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if len(vals) == len(node.elts) >= 2 and set(vals) <= ALL_NAMES and any(
                    set(vals) <= set(names) for names in catalogue.ENGINES.values()):
                # a pair like ("none", "inpaint") may also be words; require a real engine group
                if len(set(vals) & {"none", "inpaint"}) < len(set(vals)):
                    yield node.lineno, vals
        if isinstance(node, ast.Dict) and len(node.keys) >= 2:
            keys = [k.value for k in node.keys if isinstance(k, ast.Constant)]
            vals = [v.value for v in node.values if isinstance(v, ast.Constant)]
            if len(keys) == len(vals) == len(node.keys) and set(keys) <= set(catalogue.STAGES) and set(vals) <= ALL_NAMES:
                yield node.lineno, dict(zip(keys, vals))


def test_the_catalogue_is_the_only_list_of_engine_names():
    found = []
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "shotcache/engines.py":
                continue
            for line, vals in _name_lists(ast.parse(path.read_text(encoding="utf-8"))):
                found.append(f"{rel}:{line}: {vals}")
    assert not found, "engine names listed outside shotcache/engines.py:\n" + "\n".join(found)


def test_job_key_and_planning_use_one_default_rule(tmp_path):
    """A configured learned checkpoint changes the default; the job key follows the same rule,
    so a version made by the classical engine is never reused for a learned run."""
    shot = make_shot(tmp_path / "shot", frames=2, size=(48, 32))
    spec = JobSpec(shot=str(shot.root), stages=["composite"], frames=[1, 2])
    plain = PipelineRunner()
    ckpt = tmp_path / "photo.safetensors"
    ckpt.write_bytes(b"not really weights")
    learned = PipelineRunner(checkpoints={"composite.photorealistic": str(ckpt)})
    assert plain.default_engine(spec, "composite") in ("classical", "photorealistic")
    assert learned.default_engine(spec, "composite") == "photorealistic"
    if plain.default_engine(spec, "composite") == "classical":  # no shipped checkpoint in this checkout
        assert plain.job_key(spec, shot.root) != learned.job_key(spec, shot.root)
    assert spec.engine_for("composite") == "classical"  # a client that can't see weights: classical


def test_unknown_param_lists_the_known_ones(tmp_path):
    shot = make_shot(tmp_path / "shot", frames=1, size=(48, 32))
    spec = JobSpec(shot=str(shot.root), stages=["composite"], engines={"composite": "classical"},
                   params={"composite": {"grian": 0.5}}, frames=[1])
    runner = PipelineRunner()
    version = runner.prepare(spec, shot.root)
    with pytest.raises(base.EngineError, match=r"no parameter\(s\) grian.*grain"):
        runner.run(spec, shot.root, version=version)
    base.check_params("composite", "classical", {"grain": 0.5, "seed": 1})  # known keys pass
    base.check_params("composite", "classical", {"chroma": "off"})
    with pytest.raises(base.EngineError, match=r"chroma='yes' is not one of auto, off"):  # a value of a few, before any work
        base.check_params("composite", "classical", {"chroma": "yes"})
