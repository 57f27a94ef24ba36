"""Live NLTK oracle for the BLEU tests and benchmark.

Reads {"hyps": [[ids]], "refs": [[[ids]]], "methods": [...], "weights": [...]} as
JSON on stdin and prints NLTK's sentence_bleu per hypothesis and corpus_bleu
for each method, as JSON. Run with Debian's interpreter (/usr/bin/python3),
where python3-nltk is importable.
"""
import json
import sys
import warnings

from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu, sentence_bleu

warnings.filterwarnings("ignore")


def main():
    job = json.load(sys.stdin)
    hyps, refs = job["hyps"], job["refs"]
    weights = tuple(job.get("weights", (0.25, 0.25, 0.25, 0.25)))
    sf = SmoothingFunction()
    out = {"sentence": {}, "corpus": {}}
    for name in job["methods"]:
        fn = getattr(sf, name)
        scores = []
        for h, r in zip(hyps, refs):
            try:
                scores.append(sentence_bleu(r, h, weights=weights, smoothing_function=fn))
            except (AssertionError, IndexError, ZeroDivisionError) as e:
                scores.append(type(e).__name__)
        out["sentence"][name] = scores
        try:
            out["corpus"][name] = corpus_bleu(refs, hyps, weights=weights, smoothing_function=fn)
        except (AssertionError, IndexError, ZeroDivisionError) as e:
            out["corpus"][name] = type(e).__name__
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
