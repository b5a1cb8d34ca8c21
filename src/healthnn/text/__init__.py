"""Clinical text: reading documents, tokenizers, BM25 search and extractive summaries.

* :mod:`healthnn.text.io` reads notes or abstracts (CSV, Parquet, JSONL, .txt) with row-level
  problems (invalid UTF-8, empty text, over-long documents) reported, never dropped silently.
* :mod:`healthnn.text.tokenizer` trains a word-level, WordPiece or BPE tokenizer on the training texts
  (Hugging Face ``tokenizers``; nothing is downloaded) and saves it as JSON in the bundle.
* :mod:`healthnn.text.search` is a BM25 index (``healthnn index`` / ``healthnn search``),
  optionally fused with a trained text model's embeddings.
* :mod:`healthnn.text.summarize` ranks sentences (TextRank on TF-IDF similarities) and keeps
  each summary sentence's character offsets into the source (``healthnn summarize``).

The task that trains classifiers on notes is :mod:`healthnn.tasks.text`.
"""
