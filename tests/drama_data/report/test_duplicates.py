"""The report's bounded duplicate check against a brute-force comparison of every pair of rows."""
from __future__ import annotations

import random

from drama_data.build.dedup import jaccard, shingles
from drama_data.build.filters import normalise_query
from drama_data.report.duplicates import DuplicateCheck
from drama_data.report.sampling import RowSample


def rows_with_planted_duplicates(n: int = 600, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    vocab = ["".join(rng.choice("abcdefghiklmnoprstuvwy") for _ in range(rng.randint(3, 8))) for _ in range(400)]
    out: list[str] = []
    for _ in range(n):
        r = rng.random()
        if out and r < 0.15:  # the same text again, as written or in another case and punctuation
            q = rng.choice(out)
            out.append(q if rng.random() < 0.5 else q.upper() + "?")
        elif out and r < 0.3:  # one letter changed in a long query: Jaccard above 0.9
            q = rng.choice(out)
            if len(q) > 60:
                i = rng.randrange(len(q))
                q = q[:i] + ("x" if q[i] != "x" else "z") + q[i + 1:]
            out.append(q)
        else:
            out.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(3, 16))))
    out[10] = out[11] = ""  # empty queries: exact duplicates of each other, never near ones
    return out


def brute_force(texts: list[str], threshold: float = 0.8) -> dict[int, tuple[str, int]]:
    """``{row: (kind, first earlier row that matches)}`` comparing every pair."""
    norms = [normalise_query(t) for t in texts]
    sets = [shingles(x, 3) for x in norms]
    out = {}
    for i, x in enumerate(norms):
        same = next((j for j in range(i) if norms[j] == x), None)
        if same is not None:
            out[i] = ("exact", same)
            continue
        near = next((j for j in range(i) if x and norms[j] and jaccard(sets[i], sets[j]) >= threshold), None)
        if near is not None:
            out[i] = ("near", near)
    return out


def run(texts: list[str], sample: RowSample, batch: int = 64) -> dict:
    ids = [f"q{i}" for i in range(len(texts))]
    check = DuplicateCheck(sample)
    for i in sample.indices:
        check.judge(int(i), ids[i], texts[i])
    scanned = 0
    for start in range(0, len(texts), batch):
        scanned = start
        if not check.scan(start, ids[start:start + batch], texts[start:start + batch]):
            break
    return {**check.result(), "scanned_to": scanned}



def test_every_row_judged_equals_brute_force(monkeypatch):
    monkeypatch.setattr("drama_data.report.duplicates.EXAMPLES", 10_000)
    texts = rows_with_planted_duplicates()
    want = brute_force(texts)
    got = run(texts, RowSample(len(texts), size=len(texts)))
    assert got["judged_rows"] == len(texts) and "estimated_exact" not in got
    exact = {e["id"]: e["of"] for e in got["exact_examples"]}
    near = {e["id"]: e["of"] for e in got["near_examples"]}
    assert exact == {f"q{i}": f"q{j}" for i, (k, j) in want.items() if k == "exact"}
    assert near == {f"q{i}": f"q{j}" for i, (k, j) in want.items() if k == "near"}
    assert got["exact"] > 50 and got["near"] > 30  # the planted ones
    assert all(e["similarity"] >= 0.8 for e in got["near_examples"])
    assert got["exact_rate"] == round(got["exact"] / len(texts), 4)


def test_sampled_rows_are_compared_with_every_earlier_row(monkeypatch):
    monkeypatch.setattr("drama_data.report.duplicates.EXAMPLES", 10_000)
    texts = rows_with_planted_duplicates(1_000, seed=9)
    want = brute_force(texts)
    sample = RowSample(len(texts), size=200)
    got = run(texts, sample)
    judged = {int(i) for i in sample.indices}
    exact = {e["id"] for e in got["exact_examples"]}
    near = {e["id"] for e in got["near_examples"]}
    assert exact == {f"q{i}" for i, (k, _) in want.items() if k == "exact" and i in judged}
    assert near == {f"q{i}" for i, (k, _) in want.items() if k == "near" and i in judged}
    assert got["judged_rows"] == 200 and got["sample"] == {"rows": 200, "of": 1_000, "complete": False, "seed": 0}
    assert got["estimated_exact"] == round(len(exact) / 200 * 1_000)
    # the rates estimate the full data's (planted at about 15% exact, 15% near)
    full_exact = sum(1 for k, _ in want.values() if k == "exact") / len(texts)
    assert abs(got["exact_rate"] - full_exact) < 0.08
    assert got["scanned_to"] <= sample.last  # rows after the last judged one are not read


def test_examples_are_capped_at_twenty():
    texts = ["the same query"] * 50
    got = run(texts, RowSample(50, size=50))
    assert got["exact"] == 49 and len(got["exact_examples"]) == 20
    assert got["exact_examples"][0] == {"id": "q1", "of": "q0", "similarity": 1.0}


def test_vectorised_signatures_equal_builds_one_at_a_time():
    import zlib

    from drama_data.build.dedup import Deduplicator, band_keys, signatures

    rng = random.Random(2)
    texts = ["".join(rng.choice("ab cdé中ß-") for _ in range(rng.randint(1, 40))) for _ in range(300)]
    norms = [x for x in (normalise_query(t) for t in texts) if x]
    for x in norms + ["abc", "ab", "plain ascii text"]:  # the ASCII fast path hashes the same bytes
        slow = {zlib.crc32(x.encode())} if len(x) <= 3 else {zlib.crc32(x[i:i + 3].encode()) for i in range(len(x) - 2)}
        assert shingles(x, 3) == slow
    dedup = Deduplicator()
    sets = [shingles(x, 3) for x in norms]
    sigs = signatures(sets, dedup._a, dedup._b, chunk=7)
    assert all((sigs[i] == dedup._signature(s)).all() for i, s in enumerate(sets))
    keys = band_keys(sigs, 18, 7)
    same = sigs[:, :7] == sigs[0, :7]
    assert ((keys[:, 0] == keys[0, 0]) == same.all(axis=1)).all()  # a band's key is shared iff the band is
