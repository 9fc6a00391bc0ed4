import math

import pytest
import torch
import torch.nn.functional as F

from drama_models.training.losses import (
    InfoNCELoss,
    MatryoshkaLoss,
    backward_scale,
    build_loss,
    gather_across_devices,
    group_distillation,
    info_nce,
)


def test_info_nce_by_hand():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # query 0 owns passages 0-1 (positive 0), query 1 owns 2-3 (positive 2)
    p = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [0.8, 0.6]])
    t = 0.5
    s = (q @ p.T) / t
    expected = -(
        (s[0, 0] - torch.logsumexp(s[0], 0)) + (s[1, 2] - torch.logsumexp(s[1], 0))
    ) / 2
    assert info_nce(q, p, t).item() == pytest.approx(expected.item(), abs=1e-6)
    # plain arithmetic: every passage of the batch is a candidate for every query (in-batch + hard negatives)
    dots = [[1.0, 0.6, 0.0, 0.8], [0.0, 0.8, 1.0, 0.6]]
    nll = [-math.log(math.exp(d[pos] / t) / sum(math.exp(v / t) for v in d)) for d, pos in zip(dots, (0, 2))]
    assert info_nce(q, p, t).item() == pytest.approx(sum(nll) / 2, abs=1e-6)


def test_info_nce_rejects_partial_groups():
    with pytest.raises(ValueError, match="whole group"):
        info_nce(torch.randn(3, 4), torch.randn(4, 4), 0.1)


def test_matryoshka_is_weighted_sum_of_truncated_losses():
    torch.manual_seed(0)
    q = F.normalize(torch.randn(4, 16), dim=-1)
    p = F.normalize(torch.randn(8, 16), dim=-1)
    loss = MatryoshkaLoss(InfoNCELoss(0.05), [16, 4], [1.0, 0.5])(q, p)
    expected = info_nce(q, p, 0.05) + 0.5 * info_nce(F.normalize(q[:, :4], dim=-1), F.normalize(p[:, :4], dim=-1), 0.05)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError, match="matryoshka_dims.*32"):
        MatryoshkaLoss(InfoNCELoss(0.05), [32])(q, p)
    with pytest.raises(ValueError, match="matryoshka_weights"):
        MatryoshkaLoss(InfoNCELoss(0.05), [16, 4], [1.0])
    assert isinstance(build_loss(0.02), InfoNCELoss)
    assert isinstance(build_loss(0.02, matryoshka_dims=[8]), MatryoshkaLoss)


def test_single_process_gather_is_identity():
    x = torch.randn(3, 2, requires_grad=True)
    assert gather_across_devices(x) is x
    assert backward_scale(True) == 1.0
    with pytest.raises(ValueError, match="temperature"):
        InfoNCELoss(0.0)


def test_group_distillation_by_hand():
    """KL(teacher || student) over each query's own group; a NaN row (no teacher scores) is left out."""
    torch.manual_seed(0)
    q = F.normalize(torch.randn(3, 8), dim=-1).requires_grad_(True)
    p = F.normalize(torch.randn(6, 8), dim=-1)  # group 2
    teacher = torch.tensor([[2.0, 0.5], [float("nan"), 1.0], [-1.0, 1.0]])
    t, tt = 0.05, 0.5
    loss = group_distillation(q, p, teacher, t, tt)
    expected = 0.0
    for i in (0, 2):
        s = torch.stack([q[i] @ p[2 * i], q[i] @ p[2 * i + 1]]) / t
        pt = F.softmax(teacher[i] / tt, dim=-1)
        expected += (pt * (pt.log() - F.log_softmax(s, dim=-1))).sum()
    assert loss.item() == pytest.approx(expected.item() / 2, rel=1e-5)
    loss.backward()
    assert q.grad[1].abs().sum() == 0 and q.grad[0].abs().sum() > 0
    # a student that already agrees with the teacher has nothing to learn
    logits = torch.tensor([[0.3, 0.1]])
    qq, pp = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.3, 0.0], [0.1, 0.0]])
    assert group_distillation(qq, pp, logits / 0.05, 0.05).item() == pytest.approx(0.0, abs=1e-6)
    assert group_distillation(qq, pp, torch.tensor([[float("nan"), 1.0]]), 0.05).item() == 0.0
    with pytest.raises(ValueError, match="teacher scores"):
        group_distillation(q, p, torch.zeros(3, 3), t)
