"""The asset evaluator: resolution in a child process, its content-hash cache, and what it
makes of hostile inputs, hostile files and garbage on its pipe."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.flow import (
    AssetCatalog,
    AssetError,
    AssetEvaluator,
    AssetExited,
    EvaluationLimits,
    Invalid,
    UnknownAsset,
    default_assets_root,
    resolve,
)
from lightflow_actors.flow._evaluation import Loading as LoadingFrame
from lightflow_actors.flow._evaluation import _decode_frames, encode_frame


def test_the_child_resolves_what_resolve_resolves_and_the_cache_spares_a_process(
    catalog: AssetCatalog, evaluator: AssetEvaluator
) -> None:
    mine = AssetEvaluator()
    inputs = b'{"topic": "owls"}'
    assert mine.resolve(catalog, "article", inputs) == resolve(catalog, "article", inputs)
    assert mine.evaluations == 1
    mine.resolve(catalog, "article", inputs)
    mine.resolve(catalog, "article", {"topic": "owls"})  # a mapping is keyed by its JSON
    assert mine.evaluations == 2  # b'{"topic": "owls"}' vs b'{"topic":"owls"}'
    with pytest.raises(UnknownAsset):
        mine.resolve(catalog, "no-such-workflow")
    assert mine.evaluations == 2  # an unknown id needs no process


def test_an_edited_file_is_evaluated_again(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "assets"
    shutil.copytree(default_assets_root(), root)
    evaluator = AssetEvaluator()
    first = evaluator.resolve(AssetCatalog.scan(root), "text-plan", b'{"topic": "tea"}')
    plan = root / "workflows" / "text_plan.py"
    plan.write_text(plan.read_text().replace('"title": "', '"title": "Edited '))
    again = evaluator.resolve(AssetCatalog.scan(root), "text-plan", b'{"topic": "tea"}')
    assert evaluator.evaluations == 2 and again.title == "Edited " + first.title


@pytest.mark.parametrize(
    "inputs",
    [
        b"\xff\xfe not utf-8",
        b'{"topic": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"topic": "' + b"x" * (2 << 20) + b'"}',
        b"[]",
        b"",
    ],
)
def test_hostile_inputs_are_typed_refusals_from_the_child(
    catalog: AssetCatalog, evaluator: AssetEvaluator, inputs: bytes
) -> None:
    with pytest.raises(Invalid) as err:  # InvalidInputs, or Invalid naming what broke
        evaluator.resolve(catalog, "text-plan", inputs)
    assert err.value.reason == "invalid" and not isinstance(err.value, AssetError)


def test_close_stops_an_evaluation_under_way(write_asset, tmp_path: Path) -> None:
    import threading

    write_asset(
        "workflows",
        "spin.py",
        'METADATA = {"id": "spin", "title": "T", "kind": "workflow", "description": "D", '
        '"stability": "draft"}\nwhile True:\n    pass\n',
    )
    evaluator = AssetEvaluator(EvaluationLimits(timeout_s=600))
    catalog = AssetCatalog.scan(tmp_path / "assets")
    errors: list[BaseException] = []

    def evaluate() -> None:
        try:
            evaluator.resolve(catalog, "spin")
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=evaluate)
    worker.start()
    while evaluator.evaluations == 0 or not evaluator._children:
        worker.join(0.01)
    evaluator.close()
    worker.join(60)
    assert not worker.is_alive()
    (error,) = errors
    assert isinstance(error, AssetExited) and "shutting down" in str(error)


@settings(max_examples=200)
@given(garbage=st.binary(max_size=300))
def test_any_bytes_on_the_pipe_decode_to_frames_or_nothing(garbage: bytes) -> None:
    frame = encode_frame(LoadingFrame("/a.py"))
    for output in (garbage, frame + garbage, garbage + frame, frame[:-1]):
        frames = _decode_frames(output)
        assert all(f is not None for f in frames)
    assert _decode_frames(frame + frame[:3]) == [LoadingFrame("/a.py")]
