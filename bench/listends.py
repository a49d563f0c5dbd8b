#!/usr/bin/python3
"""bench — list ends in Python's multiprocessing.Manager() (see listends.c).

usage: listends.py front|queue|back PAIRS BLOCK FIRST N [N ...]
One repetition: a manager list of N ints for each N, 50 pairs of warm-up on
each, then PAIRS pairs on each in blocks of BLOCK that go round the lists
(starting with the FIRST-th); prints "N us_per_pair" for each N, the median
over the blocks (as listends.c).
  front  l.insert(0, x); l.pop(0)
  queue  l.append(x); l.pop(0)
  back   l.append(x); l.pop()
"""
import multiprocessing as mp
import statistics
import sys
import time


def one(work, lst, x):
    if work == "front":
        lst.insert(0, x)
        lst.pop(0)
    elif work == "queue":
        lst.append(x)
        lst.pop(0)
    elif work == "back":
        lst.append(x)
        lst.pop()
    else:
        raise SystemExit("listends.py: unknown workload " + work)


def main():
    work, pairs, block, first = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    sizes = [int(a) for a in sys.argv[5:]]
    with mp.get_context("fork").Manager() as manager:
        lists = []
        for n in sizes:
            lst = manager.list([i % 1000 for i in range(n)])
            if len(lst) != n:
                raise SystemExit("listends.py: the list has %d items" % len(lst))
            lists.append(lst)
        for lst in lists:
            for i in range(50):
                one(work, lst, i)
        t = [[] for _ in sizes]
        done = 0
        while done < pairs:
            b = min(block, pairs - done)
            for j in range(len(sizes)):
                s = (j + first) % len(sizes)
                t0 = time.perf_counter()
                for i in range(b):
                    one(work, lists[s], done + i)
                t[s].append((time.perf_counter() - t0) * 1e6 / b)
            done += b
    for n, ts in zip(sizes, t):
        print("%d %.2f" % (n, statistics.median(ts)))


if __name__ == "__main__":
    main()
