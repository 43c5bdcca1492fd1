"""The job catalog: loading Azure ML command job YAML, explaining mistakes, typing --set values."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.catalog import InputSpec, JobCatalog, JobTemplate
from services.errors import InvalidInput

REPO_JOBS = Path(__file__).resolve().parents[2] / "jobs"

SCHEMA = "$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\n"


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture
def catalog() -> JobCatalog:
    return JobCatalog(REPO_JOBS)


def test_the_example_catalog_loads(catalog: JobCatalog) -> None:
    assert {"hello", "train-tiny", "fail"} <= set(catalog.names())
    for name in catalog.names():
        template = catalog.get(name)
        assert template.command and template.code is not None and template.code.is_dir()

    train = catalog.get("train-tiny")
    assert train.name == "train-tiny" and train.path == REPO_JOBS / "train-tiny.yml"
    assert train.compute == "cpu-cluster"  # the azureml: prefix is removed
    assert train.experiment == "train-tiny" and train.display_name
    assert train.environment == "azureml:AzureML-sklearn-1.5@latest"
    assert {n: s.type for n, s in train.inputs.items()} == {"epochs": "integer", "lr": "number", "seed": "integer"}
    assert train.inputs["lr"].default == 0.5 and isinstance(train.inputs["lr"].default, float)
    assert train.outputs == ("model",)
    assert (train.code / "train_tiny.py").is_file() if train.code else False
    assert catalog.get("hello").inputs["name"] == InputSpec("name", "string", "world", False, "Who to greet.")


def test_unknown_template_lists_close_matches_and_all_names(catalog: JobCatalog) -> None:
    with pytest.raises(InvalidInput) as err:
        catalog.get("train-tiyn")
    text = str(err.value)
    assert "Did you mean `train-tiny`" in text
    assert "`fail`" in text and "`hello`" in text
    assert catalog.get("HELLO").name == "hello"


def test_empty_or_missing_catalog(tmp_path: Path) -> None:
    assert JobCatalog(tmp_path / "nope").names() == []
    with pytest.raises(InvalidInput, match="has no templates"):
        JobCatalog(tmp_path).get("hello")


def test_broken_yaml_names_file_line_and_problem(tmp_path: Path) -> None:
    write(tmp_path / "jobs", "broken.yml", SCHEMA + "type: command\ncommand: echo hi\ninputs:\n  a: [1, 2\n")
    with pytest.raises(InvalidInput) as err:
        JobCatalog(tmp_path / "jobs").get("broken")
    assert str(err.value) == (
        "The job template `jobs/broken.yml` is not valid YAML, line 6, column 1: "
        "expected ',' or ']', but got '<stream end>'. Fix the file and try again."
    )
    write(tmp_path / "jobs", "indent.yml", "command: echo hi\n  bad: indent\n")
    with pytest.raises(InvalidInput, match="indent.yml` is not valid YAML, line 2, column 6: mapping values"):
        JobCatalog(tmp_path / "jobs").get("indent")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("- a\n- b\n", "must be a YAML mapping"),
        ("type: sweep\ncommand: x\n", "only `type: command`"),
        ("type: command\n", "has no `command`"),
        ("command: x\ninputs:\n  a:\n    type: tensor\n", "unknown type `tensor`"),
        ("command: x\ninputs:\n  a:\n    default: 1\n", "input `a` has no `type`"),
        ("command: x\ninputs:\n  a:\n    type: integer\n    default: lots\n", "must be an integer"),
        ("command: x\ninputs: [a]\n", "`inputs` must be a mapping"),
        ("command: x\ncode: azureml:src:1\n", "must be a local folder"),
    ],
)
def test_template_mistakes_are_explained(tmp_path: Path, body: str, message: str) -> None:
    write(tmp_path, "t.yml", body)
    with pytest.raises(InvalidInput, match=message):
        JobCatalog(tmp_path).get("t")


def test_changed_file_is_reloaded(tmp_path: Path) -> None:
    path = write(tmp_path, "t.yml", SCHEMA + "command: echo one\n")
    catalog = JobCatalog(tmp_path)
    assert catalog.get("t").command == "echo one"
    path.write_text(SCHEMA + "command: echo two, longer\n")
    assert catalog.get("t").command == "echo two, longer"


def test_literal_inputs_get_their_type_from_the_value(tmp_path: Path) -> None:
    write(
        tmp_path,
        "lit.yml",
        SCHEMA + "command: x\ninputs:\n  epochs: 3\n  rate: 0.1\n  verbose: true\n  tag: abc\n"
        "  data:\n    type: uri_folder\n    path: azureml:mydata:1\n",
    )
    catalog = JobCatalog(tmp_path)
    template = catalog.get("lit")
    assert {n: s.type for n, s in template.inputs.items()} == {
        "epochs": "integer",
        "rate": "number",
        "verbose": "boolean",
        "tag": "string",
        "data": "uri_folder",
    }
    assert template.inputs["data"].default == "azureml:mydata:1"
    assert catalog.validate_overrides(template, {"epochs": "5", "rate": "2", "verbose": "no", "tag": "x y"}) == {
        "epochs": 5,
        "rate": 2.0,
        "verbose": False,
        "tag": "x y",
    }


@pytest.fixture
def typed(tmp_path: Path) -> tuple[JobCatalog, JobTemplate]:
    write(
        tmp_path,
        "typed.yml",
        SCHEMA
        + """type: command
command: python x.py
inputs:
  n: {type: integer, default: 1}
  lr: {type: number, default: 0.1}
  flag: {type: boolean, default: false}
  text: {type: string, optional: true}
  data: {type: uri_file, optional: true}
  needed: {type: string}
""",
    )
    catalog = JobCatalog(tmp_path)
    return catalog, catalog.get("typed")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("n", "42", 42),
        ("inputs.n", "-3", -3),
        ("lr", "0.01", 0.01),
        ("lr", "1e-3", 0.001),
        ("lr", "3", 3.0),
        ("flag", "true", True),
        ("flag", "Yes", True),
        ("flag", "1", True),
        ("flag", "false", False),
        ("flag", "NO", False),
        ("flag", "0", False),
        ("text", "0.01; rm -rf ~", "0.01; rm -rf ~"),
        ("data", "azureml://datastores/x/paths/y.csv", "azureml://datastores/x/paths/y.csv"),
    ],
)
def test_overrides_are_typed(typed: tuple[JobCatalog, JobTemplate], key: str, value: str, expected: object) -> None:
    catalog, template = typed
    result = catalog.validate_overrides(template, {key: value})
    name = key.removeprefix("inputs.")
    assert result == {name: expected}
    assert type(result[name]) is type(expected)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("lr", "0.01; rm -rf ~", "lr must be a number (got '0.01; rm -rf ~')."),
        ("lr", "nan", "lr must be a number (got 'nan')."),
        ("lr", "inf", "lr must be a number"),
        ("n", "3.5", "n must be an integer (got '3.5')."),
        ("n", "1_000", "n must be an integer"),
        ("flag", "maybe", "flag must be a boolean (got 'maybe')."),
        ("text", "a\x00b", "must not contain a NUL"),
    ],
)
def test_bad_values_say_what_type_is_expected(
    typed: tuple[JobCatalog, JobTemplate], key: str, value: str, message: str
) -> None:
    catalog, template = typed
    with pytest.raises(InvalidInput) as err:
        catalog.validate_overrides(template, {key: value})
    assert message in str(err.value)


def test_undeclared_and_duplicate_inputs(typed: tuple[JobCatalog, JobTemplate]) -> None:
    catalog, template = typed
    with pytest.raises(InvalidInput) as err:
        catalog.validate_overrides(template, {"inputs.lrr": "0.1"})
    text = str(err.value)
    assert "no input `lrr`" in text and "Did you mean `lr`" in text
    assert "`n` (integer)" in text and "`flag` (boolean)" in text
    with pytest.raises(InvalidInput, match="set twice"):
        catalog.validate_overrides(template, {"lr": "0.1", "inputs.lr": "0.2"})


def test_resolve_inputs_fills_defaults_and_requires_required_ones(typed: tuple[JobCatalog, JobTemplate]) -> None:
    catalog, template = typed
    with pytest.raises(InvalidInput, match="needs a value for `needed`") as err:
        catalog.resolve_inputs(template, {})
    assert "--set needed=<string>" in str(err.value)
    assert catalog.resolve_inputs(template, {"needed": "x", "n": "2"}) == {
        "n": 2,
        "lr": 0.1,
        "flag": False,
        "needed": "x",
    }


@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_any_integer_text_round_trips(value: int) -> None:
    catalog, template = _typed_for_hypothesis()
    assert catalog.validate_overrides(template, {"n": str(value)}) == {"n": value}


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_number_text_round_trips(value: float) -> None:
    catalog, template = _typed_for_hypothesis()
    result = catalog.validate_overrides(template, {"lr": repr(value)})["lr"]
    assert isinstance(result, float) and (result == value or (math.isclose(result, value)))


@given(st.text())
def test_any_text_is_either_a_number_or_refused_with_the_type(text: str) -> None:
    catalog, template = _typed_for_hypothesis()
    try:
        result = catalog.validate_overrides(template, {"lr": text})["lr"]
    except InvalidInput as err:
        assert "lr must be a number" in str(err) or "NUL" in str(err)
    else:
        assert isinstance(result, float) and math.isfinite(result)


def _typed_for_hypothesis() -> tuple[JobCatalog, JobTemplate]:
    template = JobTemplate(
        name="t",
        path=Path("t.yml"),
        display_name=None,
        description=None,
        compute=None,
        experiment=None,
        inputs={
            "n": InputSpec("n", "integer", None, True, None),
            "lr": InputSpec("lr", "number", None, True, None),
        },
        outputs=(),
        command="x",
        code=None,
    )
    return JobCatalog(Path("/nonexistent")), template
