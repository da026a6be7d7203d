"""Print results.jsonl (prompt-tuning runs) as a markdown table."""
import json, os
rows = [json.loads(l) for l in open(os.path.join(os.path.dirname(__file__), 'results.jsonl'))]
print('| # | when | model | head | layers tuned | P | n-train × epochs | lr prompt/head | init | zero-shot | dev acc per epoch | steps | wall min | CPU min | tag |')
print('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
for i, r in enumerate(rows, 1):
    zs = '-' if r.get('zero_shot') is None else f"{100 * r['zero_shot']:.1f}%"
    hist = ' → '.join(f'{100 * h:.1f}%' for h in r['dev_hist']) or '-'
    print(f"| {i} | {r['when'][11:]} | {os.path.basename(r['model'])} | {r['head']} | {r['layers_used']} | {r['P']} | "
          f"{r['n_train']} × {r['epochs']} | {r['lr']:g}/{r['head_lr']:g} | {r['init']} | {zs} | {hist} | {r['steps']} | "
          f"{r['train_min']} | {r.get('cpu_min', '-')} | {r['tag']} |")
