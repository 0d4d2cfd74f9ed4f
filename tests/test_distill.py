"""Distillation pieces: the loss, the shrunken student, the tiny student."""
import torch

import tlcourse
from tlcourse.distill import BagOfWords, Distiller, distill_loss, inference_speed, shrink


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


def _bow_data(n=64):
    from datasets import Dataset
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 20, (n, 6), generator=g)
    labels = (ids < 10).sum(1).gt(3).long()  # label = mostly low token ids
    return Dataset.from_dict({"input_ids": ids.tolist(), "attention_mask": [[1] * 6] * n,
                              "labels": labels.tolist()})


def test_train_student_soft_and_hard_and_the_table(tmp_path):
    from tlcourse.distill import train_student, write_student, distill_table
    from tlcourse.train import TrainConfig
    data = _bow_data()
    config = TrainConfig(lr=5e-2, epochs=3, batch_size=16, progress=False, mixed_precision="no")
    torch.manual_seed(0)
    teacher = train_student(BagOfWords(20, 2, dim=16), data, data, None, config).model
    batches = [{"input_ids": torch.tensor(data["input_ids"]),
                "attention_mask": torch.tensor(data["attention_mask"])}]
    hard = train_student(BagOfWords(20, 2, dim=8), data, data, None, config, speed_batches=batches)
    soft = train_student(BagOfWords(20, 2, dim=8), data, data, None, config, teacher=teacher,
                         temperature=2.0, speed_batches=batches)
    assert hard.accuracy > 0.6 and soft.accuracy > 0.6 and soft.examples_per_s > 0
    assert all(p.grad is None for p in teacher.parameters())
    for name, run in (("teacher", hard), ("student-hard", hard), ("student-T2", soft)):
        write_student(run, name, out_dir=tmp_path)
    table = distill_table(tmp_path)
    assert list(table.index) == ["teacher", "student-T2", "student-hard"]
    assert table.loc["student-hard", "% of teacher accuracy"] == 100.0
