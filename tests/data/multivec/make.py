#!/usr/bin/python3
"""Regenerates the multi-vector fixture (run: /usr/bin/python3
tests/data/multivec/make.py). The files are committed; the tests need no
Python. Five documents of 3, 1, 4, 2 and 5 tokens (dim 4, values exact in
float16), two queries of 2 and 1 tokens, dot similarity, one salience per
token. Hand-computed MaxSim (ties by document id descending):
    q0 = [e0, e1]:  d0 2, d1 2, d2 1.5, d3 1, d4 2  -> d4 d1 d0 d2 d3
    q1 = [e2 + e3]: d0 1, d1 0, d2 1, d3 1, d4 1    -> d4 d3 d2 d0 d1
prune(p=0.5) keeps ceil(n/2) tokens by salience: d0 {0, 2}, d1 {0},
d2 {1, 3}, d3 {1}, d4 {2, 3, 4}: 9 of 15 tokens; then q0 scores
d0 1, d1 2, d2 1, d3 0, d4 1 -> d1 d4 d2 d0 d3.
Also a decreasing offsets file for the CLI's bad-input check.
"""
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
h = 0.5
DOCS = [
    [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]],
    [[1, 1, 0, 0]],
    [[0, 0, 0, 1], [1, 0, 0, 0], [h, h, 0, 0], [0, 0, h, h]],
    [[0, 1, 0, 0], [0, 0, 1, 0]],
    [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [h, h, h, h]],
]
WEIGHTS = [[0.9, 0.1, 0.5], [1.0], [0.2, 0.8, 0.4, 0.6], [0.3, 0.7], [0.1, 0.2, 0.3, 0.4, 0.5]]
QUERIES = [[[1, 0, 0, 0], [0, 1, 0, 0]], [[0, 0, 1, 1]]]


def offsets(seqs):
    return np.concatenate([[0], np.cumsum([len(s) for s in seqs])]).astype('<i8')


def save(name, a):
    np.save(os.path.join(HERE, name), a)


save('corpus_tokens.npy', np.array([t for d in DOCS for t in d], dtype='<f4'))
save('corpus_offsets.npy', offsets(DOCS))
save('queries_tokens.npy', np.array([t for q in QUERIES for t in q], dtype='<f4'))
save('query_offsets.npy', offsets(QUERIES))
save('weights.npy', np.array([w for ws in WEIGHTS for w in ws], dtype='<f4'))
save('bad_offsets_decreasing.npy', np.array([0, 3, 4, 2, 10, 15], dtype='<i8'))
with open(os.path.join(HERE, 'doc_ids.txt'), 'w') as f:
    f.write(''.join('d%d\n' % i for i in range(len(DOCS))))
with open(os.path.join(HERE, 'query_ids.txt'), 'w') as f:
    f.write('q0\nq1\n')
with open(os.path.join(HERE, 'qrels.trec'), 'w') as f:
    f.write('q0 0 d1 2\nq0 0 d0 1\nq1 0 d3 2\nq1 0 d2 1\nq1 0 d4 0\n')
with open(os.path.join(HERE, 'manifest.json'), 'w') as f:
    json.dump({"name": "mv-tiny", "corpus_tokens": "corpus_tokens.npy",
               "corpus_offsets": "corpus_offsets.npy", "queries_tokens": "queries_tokens.npy",
               "query_offsets": "query_offsets.npy", "corpus_token_weights": "weights.npy",
               "corpus_ids": "doc_ids.txt", "query_ids": "query_ids.txt", "qrels": "qrels.trec",
               "similarity": "dot", "scoring": "maxsim", "dim": 4, "n_corpus": 5,
               "n_queries": 2, "n_corpus_tokens": 15, "n_query_tokens": 3}, f, indent=1)
    f.write('\n')
