#!/usr/bin/python3
"""Builds HDF5 files in the ann-benchmarks layout for the tests, at test
time (no binaries are committed):

    make_hdf5.py OUTDIR [SIFTSMALL_DIR]
    make_hdf5.py --seeds DIR    (the fuzz seeds of tests/corpus/hdf5/, < 8 KiB each)

OUTDIR receives small fixtures made from tests/data/small.fvecs (5 x 4) and
queries.fvecs (3 x 4), well-formed (ok_*.hdf5) and broken (bad_*.hdf5) in
one way each, and, when SIFTSMALL_DIR (../shared/data/siftsmall) is given,
siftsmall.hdf5: train = base.fvecs, test = query.fvecs, neighbors =
groundtruth.ivecs (int64, as ann-benchmarks writes them), distances the
exact l2 distances, attribute distance = 'euclidean'.

Exits 77 (the skip code) when h5py or numpy is missing. Written the way
ann-benchmarks' own datasets.py writes its files (h5py, attrs['distance'] a
str), so the reader sees what users download.
"""
import os
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    print("make_hdf5.py: %s (Debian: python3-h5py)" % e, file=sys.stderr)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))


def read_vecs(path, dtype='<f4'):
    raw = np.fromfile(path, dtype='<i4')
    d = int(raw[0])
    return raw.reshape(-1, d + 1)[:, 1:].copy().view(dtype)


def exact(train, test, k, metric):
    if metric == 'euclidean':
        d = ((test[:, None, :].astype(np.float64) - train[None, :, :]) ** 2).sum(-1)
        order = np.argsort(d, axis=1, kind='stable')[:, :k]
        return order, np.sqrt(np.take_along_axis(d, order, 1))
    a, b = train.astype(np.float64), test.astype(np.float64)
    if metric == 'angular':
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
    s = b @ a.T
    order = np.argsort(-s, axis=1, kind='stable')[:, :k]
    return order, 1 - np.take_along_axis(s, order, 1)


def write(path, tr, te, metric, k=2, attr='str', nb=None, dist=None, libver='earliest', **kw):
    """One file; kw overrides datasets (None drops one)."""
    n, d = exact(tr, te, k, metric if metric in ('euclidean', 'angular', 'dot') else 'dot')
    parts = {'train': tr, 'test': te,
             'neighbors': n.astype(np.int64) if nb is None else nb,
             'distances': d.astype(np.float32) if dist is None else dist}
    parts.update(kw)
    with h5py.File(path, 'w', libver=libver) as f:
        if attr == 'str':
            f.attrs['distance'] = metric
        elif attr == 'fixed':
            f.attrs['distance'] = np.bytes_(metric)
        elif attr == 'int':
            f.attrs['distance'] = 3
        for name, a in parts.items():
            if a is None:
                continue
            if isinstance(a, tuple):  # (array, create_dataset options)
                f.create_dataset(name, data=a[0], **a[1])
            elif isinstance(a, str):  # a group where a dataset belongs
                f.create_group(name)
            else:
                f.create_dataset(name, data=a)


def fixtures(out):
    tr = read_vecs(os.path.join(HERE, 'small.fvecs'))
    te = read_vecs(os.path.join(HERE, 'queries.fvecs'))
    p = lambda name: os.path.join(out, name)
    write(p('ok_angular.hdf5'), tr, te, 'angular')
    write(p('ok_fixedstr.hdf5'), tr, te, 'euclidean', attr='fixed')
    write(p('ok_f64.hdf5'), tr.astype(np.float64), te.astype(np.float64), 'dot')
    write(p('ok_f16.hdf5'), tr.astype(np.float16), te.astype(np.float16), 'dot')
    write(p('ok_chunked.hdf5'), tr, te, 'dot',
          train=(tr, {'chunks': (2, 4), 'compression': 'gzip'}))
    write(p('ok_latest.hdf5'), tr, te, 'dot', libver='latest',
          train=(tr, {'chunks': (2, 4), 'compression': 'gzip'}))
    write(p('ok_nodist.hdf5'), tr, te, 'dot', attr=None)
    write(p('ok_nodistances.hdf5'), tr, te, 'dot', distances=None)
    write(p('bad_jaccard.hdf5'), tr, te, 'jaccard')
    write(p('bad_hamming.hdf5'), tr, te, 'hamming')
    write(p('bad_metric.hdf5'), tr, te, 'manhattan')
    write(p('bad_distint.hdf5'), tr, te, 'dot', attr='int')
    write(p('bad_notrain.hdf5'), tr, te, 'dot', train=None)
    write(p('bad_notest.hdf5'), tr, te, 'dot', test=None)
    write(p('bad_noneighbors.hdf5'), tr, te, 'dot', neighbors=None)
    write(p('bad_group.hdf5'), tr, te, 'dot', train='group')
    write(p('bad_rank.hdf5'), tr, te, 'dot', train=tr.reshape(-1))
    write(p('bad_rank3.hdf5'), tr, te, 'dot', test=te.reshape(3, 2, 2))
    write(p('bad_type.hdf5'), tr, te, 'dot', train=tr.astype(np.int32))
    write(p('bad_nbtype.hdf5'), tr, te, 'dot', neighbors=np.zeros((3, 2), np.float32))
    write(p('bad_nbrows.hdf5'), tr, te, 'dot', neighbors=np.zeros((2, 2), np.int64))
    write(p('bad_nbrange.hdf5'), tr, te, 'dot', neighbors=np.array([[0, 1], [2, 5], [4, 3]]))
    write(p('bad_testdim.hdf5'), tr, te, 'dot', test=te[:, :3].copy())
    write(p('bad_distshape.hdf5'), tr, te, 'dot', distances=np.zeros((3, 3), np.float32))
    write(p('bad_empty.hdf5'), tr, te, 'dot', train=np.zeros((0, 4), np.float32))
    # lzf ships with h5py, not with libhdf5: the first read must fail at open
    write(p('bad_lzf.hdf5'), tr, te, 'dot', train=(tr, {'chunks': (2, 4), 'compression': 'lzf'}))
    nan = te.copy()
    nan[1, 2] = np.nan
    write(p('bad_nan.hdf5'), tr, nan, 'dot')
    with open(p('bad_notanhdf5.hdf5'), 'wb') as f:
        f.write(b'not an HDF5 file\n' * 10)


def siftsmall(src, out):
    tr = read_vecs(os.path.join(src, 'base.fvecs'))
    te = read_vecs(os.path.join(src, 'query.fvecs'))
    gt = read_vecs(os.path.join(src, 'groundtruth.ivecs'), '<i4').astype(np.int64)
    d = np.sqrt(((te[:, None, :].astype(np.float64) - tr[gt].astype(np.float64)) ** 2).sum(-1))
    write(os.path.join(out, 'siftsmall.hdf5'), tr, te, 'euclidean', nb=gt,
          dist=d.astype(np.float32))


def seeds(out):
    """Small valid files, one per code path, for the fuzzer to mutate."""
    tr = read_vecs(os.path.join(HERE, 'small.fvecs'))
    te = read_vecs(os.path.join(HERE, 'queries.fvecs'))
    p = lambda name: os.path.join(out, name)
    write(p('seed-angular.hdf5'), tr, te, 'angular', distances=None)
    write(p('seed-fixedstr.hdf5'), tr, te, 'euclidean', attr='fixed', distances=None)
    # the newest file format (libver='latest'): other object headers, chunk indexes
    write(p('seed-f16-chunked.hdf5'), tr, te, 'dot', distances=None, libver='latest',
          train=(tr.astype(np.float16), {'chunks': (2, 4), 'compression': 'gzip'}))
    write(p('seed-f64-distances.hdf5'), tr.astype(np.float64), te.astype(np.float64), 'dot',
          libver='latest')


def main():
    if len(sys.argv) == 3 and sys.argv[1] == '--seeds':
        os.makedirs(sys.argv[2], exist_ok=True)
        seeds(sys.argv[2])
        return 0
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    fixtures(out)
    if len(sys.argv) == 3:
        siftsmall(sys.argv[2], out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
