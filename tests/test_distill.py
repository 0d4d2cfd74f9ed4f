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
    batches = [dict(batch)] * 3
    assert inference_speed(student, batches) > 1.5 * inference_speed(teacher, batches)


def test_bag_of_words_ignores_padding():
    torch.manual_seed(0)
    bow = BagOfWords(vocab_size=10, num_labels=2, dim=4)
    ids = torch.tensor([[1, 2, 0, 0], [1, 2, 7, 7]])
    out = bow(ids, torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0]]), labels=torch.tensor([0, 1]))
    assert torch.allclose(out.logits[0], out.logits[1]) and out.loss > 0
