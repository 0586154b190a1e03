import torch

from erasure.methods.ema import copy_sharing_frozen, ema_update, teacher_params


def test_ema_formula():
    g = torch.Generator().manual_seed(0)
    t0, s = torch.randn(5, generator=g), torch.randn(5, generator=g)
    teacher = {"w": t0.clone()}
    ema_update(teacher, {"w": s}, 0.999)
    torch.testing.assert_close(teacher["w"], 0.999 * t0 + 0.001 * s, rtol=0, atol=1e-7)
    ema_update(teacher, {"w": s}, 0.0)  # m = 0: the teacher becomes the student
    assert torch.equal(teacher["w"], s)


def test_teacher_shares_frozen_copies_trained():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 3))
    trainable = {"1.weight": model[1].weight}
    teacher = copy_sharing_frozen(model, trainable)
    assert teacher[0].weight is model[0].weight and teacher[1].bias is model[1].bias
    assert teacher[1].weight is not model[1].weight and torch.equal(teacher[1].weight, model[1].weight)
    tp = teacher_params(teacher, trainable)
    with torch.no_grad():
        model[1].weight.add_(1.0)
    before = tp["1.weight"].clone()
    ema_update(tp, trainable, 0.9)
    torch.testing.assert_close(tp["1.weight"], 0.9 * before + 0.1 * model[1].weight)
