"""Times NLTK's sentence_bleu over a batch read as JSON on stdin
({"hyps": [[ids]], "refs": [[[ids]]], "repeats": n}); prints the median
seconds for the whole batch and the scores' sum as JSON. Run with Debian's
/usr/bin/python3 (python3-nltk)."""
import json
import statistics
import sys
import time
import warnings

import nltk
from nltk.translate.bleu_score import sentence_bleu

warnings.filterwarnings("ignore")
job = json.load(sys.stdin)
times, total = [], 0.0
for _ in range(job.get("repeats", 3)):
    t0 = time.perf_counter()
    total = sum(sentence_bleu(r, h) for h, r in zip(job["hyps"], job["refs"]))
    times.append(time.perf_counter() - t0)
json.dump({"seconds": statistics.median(times), "sum": total, "nltk": nltk.__version__}, sys.stdout)
