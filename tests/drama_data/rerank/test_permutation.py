import pytest

from drama_data.rerank.permutation import parse_permutation


@pytest.mark.parametrize(
    "text, n, order, missing, dups, oor",
    [
        ("[2] > [1] > [3]", 3, [1, 0, 2], [], [], []),
        ("[2] > [3]", 3, [1, 2, 0], [1], [], []),                         # missing id appended
        ("[2] > [2] > [1] > [3]", 3, [1, 0, 2], [], [2], []),             # repeat dropped
        ("Sure! The ranking is [3] > [1] > [2]. Hope it helps.", 3, [2, 0, 1], [], [], []),  # prose around
        ("[4] > [1] > [0] > [2] > [3]", 3, [0, 1, 2], [], [], [4, 0]),    # out of range dropped
        ("", 3, [0, 1, 2], [1, 2, 3], [], []),                            # empty: input order, recorded
        ("I cannot rank these.", 2, [0, 1], [1, 2], [], []),
        ("2 > 1", 2, [1, 0], [], [], []),                                 # bare numbers when no brackets
        ("[ 3 ]>[1]>[2]", 3, [2, 0, 1], [], [], []),
    ],
)
def test_parse_and_repair(text, n, order, missing, dups, oor):
    p = parse_permutation(text, n)
    assert p.order == order
    assert (p.missing, p.duplicates, p.out_of_range) == (missing, dups, oor)
    assert sorted(p.order) == list(range(n))
    assert p.repaired == len(missing) + len(dups) + len(oor)
