"""One module per lesson's experiments, named like its notebook, and the registry of lessons that the
course map, `tlcourse results --run` and the README's lesson tables read. Adding a lesson: its module
here and one entry in LESSONS (functions named "module:function", imported only when used)."""
from dataclasses import dataclass
from importlib import import_module
from inspect import signature


@dataclass(frozen=True)
class Lesson:
    notebook: str       # its notebook under notebooks/ (an exercise and a solution, where it has them, share the name)
    runs: tuple = ()    # "module:function"s that run its long experiments in order, resuming from result files
    tables: tuple = ()  # (README section, "module:function" that builds the section's table from a results folder)


LESSONS = (
    Lesson("00_setup_and_tour.ipynb"),
    Lesson("01_llm_basics.ipynb"),
    Lesson("02_zero_shot.ipynb"),
    Lesson("03_feature_extraction.ipynb", runs=("tlcourse.experiments.method_grid:run_grid",)),  # lessons 03-06's grid
    Lesson("04_partial_fine_tuning.ipynb"),
    Lesson("05_full_fine_tuning.ipynb"),
    Lesson("06_lora.ipynb", runs=("tlcourse.lessons.style:run_lesson",),
           tables=(("style", "tlcourse.lessons.style:style_table"),)),
    Lesson("07_distillation.ipynb", runs=("tlcourse.lessons.distillation:run_lesson",)),
    Lesson("08_domain_adaptation.ipynb", runs=("tlcourse.lessons.domain_adaptation:run_lesson",)),
    Lesson("09_choosing_the_approach.ipynb"),  # its learning curves: `make curves`
    Lesson("10_translation_sft.ipynb", runs=("tlcourse.lessons.translation_sft:run_lesson",),
           tables=(("translation", "tlcourse.lessons.translation_sft:translation_table"),)),
    Lesson("11_preference_tuning.ipynb", runs=("tlcourse.lessons.preference_tuning:run_lesson",),
           tables=(("preference", "tlcourse.lessons.preference_tuning:preference_table"),)),
    Lesson("12_verifiable_rewards.ipynb", runs=("tlcourse.lessons.verifiable_rewards:run_pilot",
                                                "tlcourse.lessons.verifiable_rewards:run_lesson"),
           tables=(("rewards", "tlcourse.lessons.verifiable_rewards:reward_table"),)),
)


def function(name: str):
    """The function a registry entry names as "module:function"."""
    module, _, attribute = name.partition(":")
    return getattr(import_module(module), attribute)


def run_experiments(skip_existing: bool = True, lessons=None) -> None:
    """Every lesson's long experiments in the active profile, in the registry's order, each resuming
    from its result files; skip_existing=False reruns the runs whose function offers it."""
    for lesson in lessons or LESSONS:
        for name in lesson.runs:
            run = function(name)
            if "skip_existing" in signature(run).parameters:
                run(skip_existing=skip_existing)
            else:
                run()


def lesson_tables(lessons=None) -> dict:
    """README section -> the function that builds its table from a results folder."""
    return {section: function(name) for lesson in lessons or LESSONS for section, name in lesson.tables}
