"""``drama-data mine``: top-k candidates per generated query (thin layer over :func:`drama_data.mining.mine.mine`).

The flags are :class:`~drama_data.mining.config.MineConfig`'s fields (one option each, declared below in one
stack); the command builds the config (:meth:`MineConfig.from_flags`), which checks every combination, runs the
stage and prints its summary.
"""
from __future__ import annotations

import click

from drama_data.cli.common import clean_errors
from drama_data.cli.options import Command, json_option, print_summary
from drama_data.mining import RETRIEVERS
from drama_data.sources import RULE_HELP


class EncoderChoice(click.Choice):
    """``--encoder``'s choices: the encoder registry's kinds (built-in and entry-point plug-ins,
    :mod:`drama_data.mining.encoders`), read when help is shown or a value is given, not at import."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self):
        from drama_data.mining.encoders import registry

        return registry().names()

    @choices.setter
    def choices(self, value) -> None:  # click.Choice.__init__ assigns it
        pass


GROUPS = {
    "Input": ["queries", "queries_config", "corpus", "split", "max_tokens", "chunk_tokenizer", "id_field",
              "title_field", "text_field", "no_title", "cross_lingual"],
    "Retriever": ["retriever", "k", "language", "k1", "b", "method", "model", "encoder_kind", "weight", "depth",
                  "exact_max_docs", "faiss_index", "encode_batch_size", "dim", "bf16"],
    "Output": ["output", "overwrite", "work_dir", "keep_work", "no_progress"],
    "Scale": ["ray", "ray_workers", "ray_gpus_per_worker", "threads", "chunk_size", "batch_size"],
}
EXAMPLES = [
    "drama-data mine --queries out/qgen --output out/mined",
    "drama-data mine --queries out/qgen --output out/mined-dense --retriever dense --model all-MiniLM-L6-v2 -k 20",
]


@click.command(name="mine", cls=Command, groups=GROUPS, examples=EXAMPLES)
@click.option("--queries", required=True, type=click.Path(file_okay=False), help="Queries dataset folder (from `generate`).")
@click.option("--queries-config", default="queries", show_default=True, help="Config of the queries dataset to read.")
@click.option("--corpus", default=None, help="The corpus the queries were generated from (BEIR folder, jsonl/parquet, HF dataset); default: the one "
                   "generate recorded. " + RULE_HELP)
@click.option("--output", required=True, type=click.Path(file_okay=False), help="Output dataset folder.")
@click.option("--retriever", type=click.Choice(list(RETRIEVERS)), default="bm25s", show_default=True)
@click.option("-k", "--k", "k", type=int, default=50, show_default=True, help="Candidates per query (paper: 50 for Sent/QGen, 20 for Rerank).")
@click.option("--language", default=None, help="Analyzer language for BM25 (ISO code; 'none' = no stemming/stopwords). Default: en.")
@click.option("--k1", type=float, default=None, help="BM25 k1 (bm25s/pyserini default 0.9, rank-bm25 1.5).")
@click.option("--b", "b", type=float, default=None, help="BM25 b (bm25s/pyserini default 0.4, rank-bm25 0.75).")
@click.option("--method", default=None, help="bm25s variant: lucene (default), robertson, atire, bm25l, bm25+.")
@click.option("--model", default=None, help="Dense and hybrid: encoder path (sentence-transformers or DRAMA checkpoint) or short name (e.g. all-MiniLM-L6-v2).")
@click.option("--weight", type=float, default=None, help="Hybrid: weight of the dense z-score against BM25's (default 0.5).")
@click.option("--depth", type=int, default=None, help="Hybrid: hits taken from each retriever before fusing (default 100).")
@click.option("--encoder", "encoder_kind", type=EncoderChoice(), default=None,
              help="Dense: how to load --model (default auto: a registered kind that recognises the folder, else "
                   "sentence-transformers).")
@click.option("--exact-max-docs", type=int, default=None, help="Dense: exact numpy search up to this many passages, faiss above (default 200000).")
@click.option("--faiss-index", type=click.Choice(["flat", "hnsw"]), default=None, help="Dense: faiss index above --exact-max-docs (default flat).")
@click.option("--encode-batch-size", type=int, default=None, help="Dense: texts per encoder call (default 64).")
@click.option("--dim", type=int, default=None, help="Dense, DRAMA encoders: Matryoshka dimension (e.g. 256).")
@click.option("--bf16", type=click.Choice(["auto", "true", "false"]), default=None,
              help="Dense and hybrid: encode with bf16 autocast. auto (default) = on CUDA with bf16 and on CPUs with "
                   "native bf16 (AVX512-BF16, AMX): about 1.7x faster than float32 there, same rankings.")
@click.option("--ray", "ray", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
              help="Dense: encode the passages on Ray actors, one encoder per worker (Ray Data map_batches over "
                   "the same chunks as locally, embeddings back in order): --ray alone starts a local Ray, --ray "
                   "HOST:PORT joins a cluster. Queries and the search stay here.")
@click.option("--ray-workers", type=int, default=None, help="--ray: encoders (Ray actors), default 2.")
@click.option("--ray-gpus-per-worker", type=float, default=None,
              help="--ray: GPUs per encoder (default 1 when the cluster has GPUs, else 0).")
@click.option("--threads", type=int, default=None, help="Search threads (bm25s, pyserini, faiss).")
@click.option("--no-title", is_flag=True, help="Index passage text only, without the title.")
@click.option("--split", default=None, help="Split of a Hugging Face corpus (default: as generate recorded, else train).")
@click.option("--chunk-tokens", "--max-tokens", "max_tokens", type=int, default=None,
              help="Chunking, as generate's --chunk-tokens (default: as generate recorded, else 256 as in the paper).")
@click.option("--chunk-tokenizer", default=None, help="Chunking tokenizer, as in generate (default: as recorded, else the word tokenizer).")
@click.option("--id-field", default=None, help="Corpus id field, as in generate.")
@click.option("--title-field", default=None, help="Corpus title field, as in generate.")
@click.option("--text-field", default=None, help="Corpus text field, as in generate.")
@click.option("--cross-lingual", "cross_lingual", type=click.Choice(["auto", "query", "source-query", "passage"]),
              default="auto", show_default=True,
              help="What rows whose query is not in their passage's language (--task crosslingual) are searched with. "
                   "auto: a dense retriever uses the query; a lexical one (BM25, hybrid) the source query of a "
                   "translated row (its passage's language) or else the passage's own text (source passage = "
                   "positive, negatives from its language). query / source-query / passage: that way for every such "
                   "row, or stop with an error saying what to do. Recorded per row in `mined_with`.")
@click.option("--work-dir", default=None, type=click.Path(file_okay=False), help="Index cache and resumable chunks (default $DRAMA_CACHE/mine).")
@click.option("--chunk-size", type=int, default=10_000, show_default=True, help="Queries per resumable chunk.")
@click.option("--batch-size", type=int, default=1_000, show_default=True, help="Queries per retriever call.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder that is not a drama-toolkit dataset.")
@click.option("--keep-work", is_flag=True, help="Keep the per-chunk results after success.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@json_option
@clean_errors
def command(as_json, **params):
    """Retrieve the top-k candidate passages of every query; mark the passage each query came from."""
    from drama_data.mining.config import MineConfig
    from drama_data.mining.mine import mine

    report = mine(MineConfig.from_flags(params))
    print_summary(report.as_dict(), report.render(), as_json=as_json)
