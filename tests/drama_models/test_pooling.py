import pytest
import torch

from drama_models.pooling import eos_pool, mean_pool, pool, truncate


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert torch.allclose(mean_pool(hidden, mask), torch.tensor([[2.0, 3.0]]))


def test_eos_pool_takes_last_real_token_right_and_left_padding():
    hidden = torch.arange(12, dtype=torch.float32).reshape(2, 3, 2)
    right = torch.tensor([[1, 1, 0], [1, 1, 1]])
    left = torch.tensor([[0, 1, 1], [1, 1, 1]])
    assert eos_pool(hidden, right).tolist() == [[2.0, 3.0], [10.0, 11.0]]
    assert eos_pool(hidden, left).tolist() == [[4.0, 5.0], [10.0, 11.0]]


def test_truncate_renormalises_and_checks_dim():
    x = torch.nn.functional.normalize(torch.randn(4, 16), dim=-1)
    cut = truncate(x, 8)
    assert cut.shape == (4, 8)
    assert torch.allclose(cut.norm(dim=-1), torch.ones(4), atol=1e-6)
    assert torch.allclose(cut, torch.nn.functional.normalize(x[:, :8], dim=-1))
    assert truncate(x, None) is x
    assert torch.equal(truncate(x, 8, normalize=False), x[:, :8])
    with pytest.raises(ValueError, match="`dim`=32.*16"):
        truncate(x, 32)
    with pytest.raises(ValueError, match="`dim`"):
        truncate(x, 0)


def test_unknown_pooling_names_the_option():
    with pytest.raises(ValueError, match="pooling"):
        pool(torch.zeros(1, 2, 3), torch.ones(1, 2), "max")
