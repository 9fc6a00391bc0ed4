import pytest

from drama_data.rerank.windows import apply_window, kendall_tau, window_spans


def test_spans_back_to_front():
    assert window_spans(40, 20, 10) == [(20, 40), (10, 30), (0, 20)]
    assert window_spans(20, 20, 10) == [(0, 20)]
    assert window_spans(25, 20, 10) == [(5, 25), (0, 15)]
    assert window_spans(5, 20, 10) == [(0, 5)]
    with pytest.raises(ValueError, match="--stride"):
        window_spans(40, 20, 30)


def test_sliding_window_with_a_deterministic_ranker_gives_the_exact_order():
    """A ranker that sorts each window by a hidden score: one sweep brings the top 10 to the front."""
    items = list(range(40))  # initial order 0..39; hidden relevance = item value (39 best)
    for span in window_spans(len(items), 20, 10):
        window = items[span[0]:span[1]]
        order = sorted(range(len(window)), key=lambda i: -window[i])
        items = apply_window(items, span, order)
    assert items[:10] == list(range(39, 29, -1))  # the best ten, in order
    # the rest, exactly as the three windows leave them
    # by hand: (20,40) -> 0..19, 39..20; (10,30) -> 0..9, 39..30, 19..10, 29..20; (0,20) -> final
    assert items == [39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
                     19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20]


def test_kendall_tau():
    assert kendall_tau([1, 2, 3], [1, 2, 3]) == 1.0
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == -1.0
    assert kendall_tau([1, 2, 3, 4], [2, 1, 3, 4]) == pytest.approx(4 / 6)
