"""What the README, WORKSHOP.md, the exercises and the Colab cell show is generated from the files it
claims to show: result files, requirements, solutions."""
import re

import pytest

from tlcourse.engine.config import ROOT
from tlcourse.lessons import LESSONS


def pins(text):
    return dict(re.findall(r"^\s*-?\s*([A-Za-z0-9_.-]+)==([^\s#]+)", text, re.M))


def test_environment_yml_matches_requirements():
    req = pins((ROOT / "requirements.txt").read_text())
    env = pins((ROOT / "environment.yml").read_text())
    assert req and req == env


def test_readme_and_ci_use_the_same_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make course" in readme.split("\n## ")[0] and "make test" in readme.split("\n## ")[0]
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_exercises_are_generated_from_solutions():
    from tlcourse.tools.exercises import generate
    assert generate(write=False) == [], "exercises/ is stale: run `make exercises`"


def test_every_lesson_starts_with_the_colab_cell():
    import nbformat
    from tlcourse.tools.colab import CELL, stamp_all
    assert stamp_all(write=False) == [], "a lesson lacks the current Colab cell: run `make exercises`"
    for path in sorted((ROOT / "exercises").glob("*.ipynb")):
        first = next(c for c in nbformat.read(path, 4).cells if c.cell_type == "code")
        assert first.source == CELL, f"{path.name}: run `make exercises`"


def test_colab_cell_installs_every_pin_but_colabs_own():
    from tlcourse.tools.colab import CELL
    keep = eval(CELL.split("keep = ")[1].split("  #")[0])
    pins = [l.strip() for l in (ROOT / "requirements.txt").read_text().splitlines() if l[:1].isalpha()]
    installed = [p for p in pins if not p.startswith(keep)]
    assert "torch==" not in " ".join(installed) and any(p.startswith("peft==") for p in installed)
    assert len(installed) == len(pins) - len(keep), "a name in the Colab cell's keep list is not pinned"


def test_readme_results_table_is_generated_from_result_files():
    from tlcourse.report.tables import markdown, method_table, readme_section
    readme = (ROOT / "README.md").read_text()
    a, b = readme_section(readme, "cpu")
    assert readme[a:b].strip() == markdown(method_table(ROOT / "results" / "cpu")).strip(), \
        "README's table differs from results/cpu/: run `tlcourse results --readme --profile cpu`"


def test_readme_claims_table_is_generated_from_result_files():
    from tlcourse.report.claims import claims_table
    from tlcourse.report.tables import markdown, readme_section
    readme = (ROOT / "README.md").read_text()
    a, b = readme_section(readme, "claims")
    assert readme[a:b].strip() == markdown(claims_table(ROOT / "results" / "cpu")).strip(), \
        "README's claims table differs from results/cpu/: run `tlcourse results --readme --profile cpu`"


def test_readme_precision_table_is_generated_from_result_files():
    from tlcourse.report.tables import markdown, precision_table, readme_section
    readme = (ROOT / "README.md").read_text()
    a, b = readme_section(readme, "precision")
    expected = markdown(precision_table(ROOT / "results" / "cpu-fp32", ROOT / "results" / "cpu-bf16"))
    assert readme[a:b].strip() == expected.strip(), \
        "README's precision table differs from results/cpu-fp32 and results/cpu-bf16: run `tlcourse results --readme --profile cpu`"


def test_readme_learning_curves_are_generated_from_result_files():
    from tlcourse.lessons.curves import curve_summary, curve_table
    from tlcourse.report.tables import markdown, readme_section
    readme = (ROOT / "README.md").read_text()
    a, b = readme_section(readme, "curves")
    assert readme[a:b].strip() == markdown(curve_summary(curve_table(ROOT / "results" / "cpu"))).strip(), \
        "README's learning curves differ from results/cpu/: run `tlcourse results --curves --readme --profile cpu`"


def test_workshop_lesson_times_are_generated_from_the_timing_file():
    from tlcourse.report.tables import lesson_times, markdown, readme_section
    guide = (ROOT / "WORKSHOP.md").read_text()
    a, b = readme_section(guide, "lesson-times", "WORKSHOP.md")
    assert guide[a:b].strip() == markdown(lesson_times("cpu")).strip(), \
        "WORKSHOP.md's lesson times differ from results/cpu/lesson_times.json: run `tlcourse results --readme --profile cpu`"


@pytest.mark.parametrize("section", [section for lesson in LESSONS for section, _ in lesson.tables])
def test_readme_llm_lesson_tables_are_generated_from_result_files(section):
    from tlcourse.lessons import lesson_tables
    from tlcourse.report.tables import markdown, readme_section
    readme = (ROOT / "README.md").read_text()
    a, b = readme_section(readme, section)
    assert readme[a:b].strip() == markdown(lesson_tables()[section](ROOT / "results" / "cpu")).strip(), \
        f"README's {section} table differs from results/cpu/: run `tlcourse results --readme --profile cpu`"
