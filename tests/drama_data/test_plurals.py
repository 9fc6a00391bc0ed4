"""plural(): the noun agrees with its count."""
from drama_data.plurals import plural


def test_plural():
    assert plural(1, "document") == "1 document"
    assert plural(0, "document") == "0 documents" and plural(2, "document") == "2 documents"
    assert plural(1, "training query", "training queries") == "1 training query"
    assert plural(3, "training query", "training queries") == "3 training queries"
    assert plural(1, "failed attempt") == "1 failed attempt" and plural(5, "failed attempt") == "5 failed attempts"
