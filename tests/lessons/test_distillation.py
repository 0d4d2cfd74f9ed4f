"""Distillation pieces: the loss, the shrunken student, the tiny student."""
import torch

import tlcourse
from tlcourse.methods.distill import BagOfWords, distill_loss, Distiller, inference_speed, shrink


def test_loss_is_cross_entropy_at_alpha_0_and_zero_when_student_equals_teacher():
    logits, labels = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    ce = torch.nn.functional.cross_entropy(logits, labels)
    assert torch.allclose(distill_loss(logits, logits + 5, labels, alpha=0.0), ce)
    assert distill_loss(logits, logits, labels, alpha=1.0).abs() < 1e-6  # shift-invariant softmax
    assert distill_loss(logits, -logits, labels, alpha=1.0) > 0.1


def test_student_keeps_a_third_of_the_blocks_and_trains_alone():
    teacher = tlcourse.load_model("minilm-l6", task="classification", num_labels=2)
    student = shrink(teacher, keep=[0, 3])
    assert student.config.num_hidden_layers == 2 and teacher.config.num_hidden_layers == 6
    model = Distiller(student, teacher).train()
    batch = tlcourse.load_tokenizer("minilm-l6")(["good", "bad film"], padding=True,
                                                 return_tensors="pt")
    out = model(**batch, labels=torch.tensor([1, 0]))
    out.loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert any(p.grad is not None for p in student.parameters())
    assert not model.teacher.training
    long = tlcourse.load_tokenizer("minilm-l6")(["a good film, " * 10, "a bad film. " * 10] * 8, padding=True,
                                                return_tensors="pt")  # (16, ~50): compute, not call overhead
    batches = [dict(long)] * 3
    assert inference_speed(student, batches) > 1.5 * inference_speed(teacher, batches)


def test_bag_of_words_ignores_padding():
    torch.manual_seed(0)
    bow = BagOfWords(vocab_size=10, num_labels=2, dim=4)
    ids = torch.tensor([[1, 2, 0, 0], [1, 2, 7, 7]])
    out = bow(ids, torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0]]), labels=torch.tensor([0, 1]))
    assert torch.allclose(out.logits[0], out.logits[1]) and out.loss > 0


def test_shrink_gives_a_trainable_student_even_from_a_frozen_teacher():
    teacher = tlcourse.load_model("minilm-l6", task="classification", num_labels=2)
    Distiller(shrink(teacher, keep=[0]), teacher)  # freezes the teacher
    student = shrink(teacher, keep=[0, 3])
    assert all(p.requires_grad for p in student.parameters())


def test_target_stats_of_a_one_hot_and_of_a_uniform_distribution():
    one_hot = torch.zeros(8)
    one_hot[3] = 1.0
    stats = tlcourse.target_stats(one_hot, 3, k=2)
    assert stats["entropy_bits"] == 0 and stats["target_rank"] == 1 and stats["top2_mass"] == 1
    uniform = tlcourse.target_stats(torch.full((8,), 1 / 8), 0, k=2)
    assert abs(uniform["entropy_bits"] - 3) < 1e-6 and abs(uniform["top2_mass"] - 0.25) < 1e-6


def test_a_random_student_has_the_copied_students_shape_but_not_its_weights():
    from tlcourse.lessons.distillation import Student, build_student
    from tlcourse.engine.models import classifier
    teacher = classifier("minilm-l6", 2)
    vocab = teacher.config.vocab_size
    copied, fresh = (build_student(Student(init=init), teacher, 2, vocab) for init in ("teacher", "random"))
    assert [p.shape for p in copied.parameters()] == [p.shape for p in fresh.parameters()]
    assert len(copied.backbone.encoder.layer) == 2
    block = lambda m, i: m.backbone.encoder.layer[i].attention.self.query.weight
    assert torch.equal(block(copied, 1), block(teacher, 3))  # keep=(0, 3): the student's second block is the teacher's fourth
    assert not torch.allclose(block(fresh, 1), block(teacher, 3))


def test_students_are_chosen_on_validation_and_compared_on_the_same_items(tmp_path):
    import json
    from dataclasses import replace
    import numpy as np
    from tlcourse.experiments.teacher import teacher_run
    from tlcourse.lessons.distillation import COMPARISONS, Student, choose, distill_differences, distill_table, run_student
    teacher = teacher_run(out_dir=tmp_path)
    choice = choose(Student(body="bow", targets="hard"), {"lr": (1e-4, 3e-2)}, teacher, out_dir=tmp_path)
    hard, rows = choice.value, choice.candidates
    trained = (choice.winner[0], *choice.winner[1])
    assert [r["lr"] for r in rows] == [1e-4, 3e-2]
    assert hard.lr == max(rows, key=lambda r: r["val_accuracy"])["lr"]  # the first best, on validation
    sweep = [json.loads(p.read_text()) for p in (tmp_path / "sweep").glob("*.json")]
    assert len(sweep) == 2 and not any("metrics" in r or "test_correct" in r for r in sweep)  # test untouched
    first = run_student(hard, teacher, out_dir=tmp_path, trained=trained)
    soft = run_student(replace(hard, targets="soft"), teacher, out_dir=tmp_path)
    assert run_student(hard, teacher, out_dir=tmp_path) == first  # read back, not trained again
    table = distill_table(tmp_path)
    assert list(table.index) == ["teacher", "bow-soft", "bow-hard"]
    assert table.loc["teacher", "% of teacher accuracy"] == 100.0
    assert table.loc["bow-hard", "lr"] == f"{hard.lr:g}" and table.loc["bow-hard", "T"] == "—"
    question = next(q for q, pair in COMPARISONS.items() if pair == ("kd-bow-soft", "kd-bow-hard"))
    gap = 100 * (np.mean(soft["test_correct"]) - np.mean(first["test_correct"]))
    assert distill_differences(tmp_path).loc[question, "difference (95% interval)"].startswith(f"{gap:+.1f}")
