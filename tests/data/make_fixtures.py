#!/usr/bin/python3
"""Regenerates the small dataset fixtures in tests/data (run from anywhere:
/usr/bin/python3 tests/data/make_fixtures.py). The generated files are
committed so the test suite needs no Python. Values are chosen to be exact in
every format (float16 included), so tests can assert them exactly:
    float row i = [i, i + 0.5, -0.25 * i, 1000 + i], i = 0..4
    uint8 row i = [10 i, 10 i + 1, 255 - i, 7]
    int8  row i = [-10 i, i, 127, -128]
"""
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
N, D = 5, 4
F = np.array([[i, i + 0.5, -0.25 * i, 1000 + i] for i in range(N)], dtype='<f4')
U8 = np.array([[10 * i, 10 * i + 1, 255 - i, 7] for i in range(N)], dtype='u1')
I8 = np.array([[-10 * i, i, 127, -128] for i in range(N)], dtype='i1')
GT = np.array([[0, 1], [2, 3], [4, -1]], dtype='<i4')


def put(name, data):
    with open(os.path.join(HERE, name), 'wb') as f:
        f.write(data)


def texmex(a):
    out = b''
    for row in a:
        out += struct.pack('<i', len(row)) + row.tobytes()
    return out


def bigann(a):
    return struct.pack('<II', a.shape[0], a.shape[1]) + a.tobytes()


def npy(a, version=(1, 0), descr=None, fortran='False', shape=None):
    descr = descr or a.dtype.str
    shape = shape if shape is not None else str(tuple(a.shape))
    hdr = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)
    pre = 10 if version[0] == 1 else 12
    pad = 64 - (pre + len(hdr) + 1) % 64
    hdr = (hdr + ' ' * pad + '\n').encode('latin1')
    lenb = struct.pack('<H', len(hdr)) if version[0] == 1 else struct.pack('<I', len(hdr))
    return b'\x93NUMPY' + bytes(version) + lenb + hdr + a.tobytes()


# ---- well-formed vectors -------------------------------------------------
put('small.fvecs', texmex(F))
put('small.bvecs', texmex(U8))
put('small.fbin', bigann(F))
put('small.u8bin', bigann(U8))
put('small.i8bin', bigann(I8))
put('small_f32.npy', npy(F))
put('small_f16.npy', npy(F.astype('<f2')))
put('small_v2.npy', npy(F, version=(2, 0)))
put('small_v3.npy', npy(F, version=(3, 0)))
put('queries.fvecs', texmex(F[[4, 0, 2]]))
put('small.ivecs', texmex(GT))
put('small.ibin', bigann(GT))
# cross-check: numpy's own writer agrees with ours on the float32 file
np.save('/tmp/ecb_fixture_check.npy', F)
assert np.array_equal(np.load('/tmp/ecb_fixture_check.npy'), np.load(os.path.join(HERE, 'small_f32.npy')))
assert np.array_equal(np.load(os.path.join(HERE, 'small_f16.npy')).astype('f4'), F)

# ---- broken vectors ------------------------------------------------------
put('bad_truncated.fvecs', texmex(F)[:-3])               # last row 3 bytes short
bad = bytearray(texmex(F))
struct.pack_into('<i', bad, 2 * (4 + 4 * D), 3)         # row 2 claims dim 3
put('bad_rowdim.fvecs', bytes(bad))
put('bad_truncated.fbin', bigann(F)[:-4])
put('bad_truncated.npy', npy(F)[:-1])
Fn = F.copy()
Fn[3, 1] = np.nan
put('bad_nan.fvecs', texmex(Fn))
Fi = F.astype('<f2')
Fi[2, 3] = np.inf
put('bad_inf_f16.npy', npy(Fi))
put('bad_fortran.npy', npy(F, fortran='True'))
put('bad_f8.npy', npy(F.astype('<f8')))
put('bad_bigendian.npy', npy(F.astype('>f4')))
put('bad_3d.npy', npy(F, shape='(5, 2, 2)'))
put('bad_magic.npy', b'NOTNUMPY' + npy(F)[8:])
put('bad_zerodim.fvecs', struct.pack('<i', 0) * 3)

# ---- ids, qrels, manifests (text) ------------------------------------------
def text(name, s):
    put(name, s.encode())

text('doc_ids.txt', 'd0\r\nd1  \nd2\t\nd10\nd3\n')      # CRLF and trailing blanks stripped
text('query_ids.txt', 'q1\nq2\nq3\n')
text('bad_ids_dup.txt', 'a\nb\nc\nb\n')
text('bad_ids_empty.txt', 'a\n\nb\n')
# TREC: grades kept as given, 0 and negative included; 'nope' is not in the
# corpus (kept, doc -1); q9 is not a query (skipped, counted).
text('qrels.trec', 'q1 0 d0 2\nq1 0 d3 0\nq1 Q0 nope 1\n\nq2\t0\td10\t3\nq2 0 d1 -1\nq9 0 d1 1\n')
text('qrels.tsv', 'query-id\tcorpus-id\tscore\nq1\td0\t2\nq1\td3\t0\nq1\tnope\t1\n'
     'q2\td10\t3\nq2\td1\t-1\nq9\td1\t1\n')
text('bad_qrels_fields.trec', 'q1 0 d0 2\nq1 0 d1\n')
text('bad_qrels_grade.trec', 'q1 0 d0 2\nq2 0 d1 high\n')
text('bad_qrels_dup.trec', 'q1 0 d0 2\nq2 0 d1 1\nq1 0 d0 1\n')
text('bad_qrels_beir.tsv', 'query-id\tcorpus-id\tscore\nq1\td0\t1\nq1 d1 1\n')
text('manifest.json', '{\n  "name": "tiny",\n  "corpus": "small.fvecs",\n  "queries": "queries.fvecs",\n'
     '  "corpus_ids": "doc_ids.txt",\n  "query_ids": "query_ids.txt",\n  "qrels": "qrels.trec",\n'
     '  "groundtruth": "small.ivecs",\n  "similarity": "cosine",\n  "dim": 4,\n  "n_corpus": 5,\n'
     '  "n_queries": 3\n}\n')
text('manifest_plain.json', '{"corpus": "small_f16.npy", "queries": "queries.fvecs", "similarity": "dot"}\n')
text('bad_manifest_key.json', '{\n  "corpus": "small.fvecs",\n  "queries": "queries.fvecs",\n'
     '  "similarty": "cosine"\n}\n')
text('bad_manifest_json.json', '{\n  "corpus": "small.fvecs",\n  "queries": "queries.fvecs"\n'
     '  "similarity": "cosine"\n}\n')
text('bad_manifest_dim.json', '{"corpus": "small.fvecs", "queries": "small.fvecs", "similarity": "l2", '
     '"dim": 8}\n')
text('bad_manifest_missing.json', '{"corpus": "small.fvecs", "queries": "absent.fvecs", '
     '"similarity": "l2"}\n')
text('bad_manifest_idcount.json', '{"corpus": "small.fvecs", "queries": "queries.fvecs", '
     '"corpus_ids": "query_ids.txt", "similarity": "l2"}\n')
text('bad_manifest_sim.json', '{"corpus": "small.fvecs", "queries": "queries.fvecs", "similarity": "cos"}\n')
text('bad_manifest_gtrows.json', '{"corpus": "small.fvecs", "queries": "small.fvecs", '
     '"groundtruth": "small.ivecs", "similarity": "l2"}\n')
text('bad_manifest_qdim.json', '{"corpus": "small.fvecs", "queries": "q3.fbin", "similarity": "l2"}\n')
put('q3.fbin', bigann(F[:, :3].copy()))
print('fixtures written to', HERE)
