"""scikit-learn and scipy are the ``ztc[train]`` extra: only ``ztc classify train`` (and bench) need them.

Each check runs in a fresh interpreter, so what this test process imported
already does not count: the runtime path (router, recorder, monitor, web edge,
``ztc route``, loading the model and predicting) must leave both unimported,
and without them ``ztc classify train`` says so in one line while ``eval`` and
``predict`` still work.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "deploy" / "policy" / "default-model.json"
TRAINING = ("sklearn", "scipy")

BLOCK_TRAINING = """
import sys

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("sklearn", "scipy"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
"""


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )


def test_training_libraries_are_an_optional_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = [d.split("==")[0] for d in project["dependencies"]]
    assert not {"scikit-learn", "scipy"} & set(names)
    train = project["optional-dependencies"]["train"]
    assert sorted(d.split("==")[0] for d in train) == ["scikit-learn", "scipy"]
    assert all("==" in d for d in train)  # pinned, as every dependency is
    assert "pip install --quiet -e '.[dev,train]'" in (ROOT / "Makefile").read_text(encoding="utf-8")


def test_the_runtime_path_never_imports_the_training_libraries() -> None:
    done = python(
        f"""
import sys
import consumers.recorder, consumers.monitor, consumers.alerter, streams.router, ztc.services, ztc.web_app
from ztc.cli import main
from streams.classifier import TextClassifier
assert main(["route", "--explain", "--text", "厂房消防验收没通过，需要怎么整改"]) == 0
TextClassifier.load({str(MODEL)!r}).predict("小区门口垃圾堆放多日无人清理")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {TRAINING!r})
print("LOADED", loaded)
"""
    )
    assert done.returncode == 0, done.stderr
    assert "区住房和城乡建设局(construction)" in done.stdout
    assert "LOADED []" in done.stdout


def test_without_the_extra_train_fails_in_one_line_and_the_rest_works(tmp_path: Path) -> None:
    data = tmp_path / "labelled.csv"
    data.write_text("text,label\n施工许可证办理太慢,permit\n社保缴费基数怎么调整,labour\n", encoding="utf-8")
    done = python(
        BLOCK_TRAINING
        + f"""
from ztc.cli import main
code = main(["classify", "train", "--data", {str(data)!r}, "--out", {str(tmp_path / "m.json")!r}])
print("TRAIN", code)
assert main(["classify", "predict", "--model", {str(MODEL)!r}, "--text", "营业执照变更"]) == 0
assert main(["classify", "eval", "--model", {str(MODEL)!r}, "--data", {str(data)!r}, "--json"]) == 0
"""
    )
    assert done.returncode == 0, done.stderr
    assert "TRAIN 2" in done.stdout
    assert done.stderr.splitlines() == [
        "错误 / error: 模型命令无法执行 / training needs scikit-learn and scipy (scipy is not installed): "
        "pip install 'ztc[train]'"
    ]
    assert not (tmp_path / "m.json").exists()
