"""The specialist registry: the repo's fleet.toml loads, broken registries fail clearly."""

from pathlib import Path

import pytest

from hi_moe.routing.fleet import FleetError, load_fleet

REPO_FLEET = Path(__file__).resolve().parent.parent / "fleet.toml"
ENTRY = '[[specialist]]\nname = "{name}"\nmodel = "{name}-lora"\ndescription = "Does {name}."\n'


def write(tmp_path: Path, text: str, name: str = "fleet.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_repo_fleet_has_the_core_specialists():
    fleet = load_fleet(str(REPO_FLEET))
    assert len(fleet.specialists) >= 6
    for name in ("python", "algorithms", "math", "debugging", "refactoring", "general"):
        assert name in fleet.names
    assert all(s.model and s.description for s in fleet.specialists)


def test_fields_and_defaults(tmp_path):
    text = ENTRY.format(name="a") + 'examples = ["x", "y"]\ntemperature = 0.7\nadapter = "a.gguf"\n'
    text += ENTRY.format(name="b")
    fleet = load_fleet(write(tmp_path, text))
    a, b = fleet.get("a"), fleet.get("b")
    assert (a.model, a.examples, a.temperature, a.adapter) == ("a-lora", ("x", "y"), 0.7, "a.gguf")
    assert (b.examples, b.temperature, b.adapter) == ((), 0.2, None)


def test_get_unknown_specialist(tmp_path):
    fleet = load_fleet(write(tmp_path, ENTRY.format(name="a")))
    with pytest.raises(FleetError, match="no specialist named 'zzz'"):
        fleet.get("zzz")


def test_missing_file(tmp_path):
    with pytest.raises(FleetError, match="does not exist"):
        load_fleet(str(tmp_path / "absent.toml"))


def test_invalid_toml(tmp_path):
    with pytest.raises(FleetError, match="is not valid TOML"):
        load_fleet(write(tmp_path, "[[specialist]\nname = \n"))


def test_no_specialists(tmp_path):
    with pytest.raises(FleetError, match=r"declares no \[\[specialist\]\]"):
        load_fleet(write(tmp_path, "# nothing here\ntitle = 'fleet'\n"))


def test_single_table_instead_of_array(tmp_path):
    text = '[specialist]\nname = "a"\nmodel = "a"\ndescription = "A."\n'
    with pytest.raises(FleetError, match=r"\[\[specialist\]\]"):
        load_fleet(write(tmp_path, text))


@pytest.mark.parametrize("field", ["name", "model", "description"])
def test_missing_field(tmp_path, field):
    lines = [line for line in ENTRY.format(name="a").splitlines() if not line.startswith(field)]
    text = ENTRY.format(name="ok") + "\n".join(lines) + "\n"
    with pytest.raises(FleetError, match=rf"specialist #2 lacks {field}"):
        load_fleet(write(tmp_path, text, f"missing-{field}.toml"))


def test_duplicate_names(tmp_path):
    text = ENTRY.format(name="a") + ENTRY.format(name="b") + ENTRY.format(name="a")
    with pytest.raises(FleetError, match=r"duplicate specialist name\(s\) a$"):
        load_fleet(write(tmp_path, text))
