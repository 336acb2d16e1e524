# lm_eval_compare.py LOCAL_OUT HF_OUT — per-sample comparison of two lm_eval
# --log_samples runs: local-completions (wafer serve) vs hf on the same folder.
import glob, json, sys
def load(d, task):
    f = sorted(glob.glob(f"{d}/**/samples_{task}_*.jsonl", recursive=True))[-1]
    return {s["doc_id"]: s for s in map(json.loads, open(f))}
for task in ["wafer_mc", "wafer_gen"]:
    a, b = load(sys.argv[1], task), load(sys.argv[2], task)
    if task == "wafer_mc":
        diffs = [abs(float(x[0]) - float(y[0])) for i in a for x, y in zip([r[0] for r in a[i]["resps"]], [r[0] for r in b[i]["resps"]])]
        greedy = sum(x[1] != y[1] for i in a for x, y in zip([r[0] for r in a[i]["resps"]], [r[0] for r in b[i]["resps"]]))
        print(f"{task}: {len(diffs)} loglikelihoods, max |diff| {max(diffs):.3g} nats, is_greedy disagreements {greedy}")
    else:
        same = sum(a[i]["resps"] == b[i]["resps"] for i in a)
        print(f"{task}: {same}/{len(a)} generations identical; e.g. {a[0]['resps'][0]!r} vs {b[0]['resps'][0]!r}")
