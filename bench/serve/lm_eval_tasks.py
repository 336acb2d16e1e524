# lm_eval_tasks.py CORPUS OUTDIR — writes two offline lm-evaluation-harness tasks
# from a text file: wafer_mc (log-likelihood, 4 choices: the true next word vs 3
# random words of the corpus) and wafer_gen (greedy generation, 6 tokens),
# 60 items each, as local JSON lines + YAML (no download).
import json, random, sys

corpus, out = sys.argv[1], sys.argv[2]
random.seed(1)
lines = [l.strip() for l in open(corpus) if len(l.split()) >= 8]
random.shuffle(lines)
vocab = sorted({w for l in lines for w in l.split()})
with open(f"{out}/mc.jsonl", "w") as mc, open(f"{out}/gen.jsonl", "w") as gen:
    for l in lines[:60]:
        w = l.split()
        k = random.randint(4, len(w) - 2)
        ctx, nxt = " ".join(w[:k]), w[k]
        ch = [" " + nxt] + [" " + random.choice(vocab) for _ in range(3)]
        order = list(range(4))
        random.shuffle(order)
        mc.write(json.dumps({"context": ctx, "choices": [ch[i] for i in order], "label": order.index(0)}) + "\n")
        gen.write(json.dumps({"context": ctx, "target": " " + nxt}) + "\n")
common = "dataset_path: json\ntest_split: test\ndoc_to_text: \"{{context}}\"\ntarget_delimiter: \"\"\n"
open(f"{out}/wafer_mc.yaml", "w").write(
    f"task: wafer_mc\n{common}dataset_kwargs:\n  data_files:\n    test: {out}/mc.jsonl\n"
    "output_type: multiple_choice\ndoc_to_choice: \"{{choices}}\"\ndoc_to_target: \"{{label}}\"\n"
    "metric_list:\n  - metric: acc\n  - metric: acc_norm\n")
open(f"{out}/wafer_gen.yaml", "w").write(
    f"task: wafer_gen\n{common}dataset_kwargs:\n  data_files:\n    test: {out}/gen.jsonl\n"
    "output_type: generate_until\ndoc_to_target: \"{{target}}\"\n"
    "generation_kwargs:\n  until: [\"Q:\"]\n  max_gen_toks: 6\n  do_sample: false\n  temperature: 0\n"
    "metric_list:\n  - metric: exact_match\n")
