"""Spatial diagnostic: can the built-in LM learn left/right/above/below from a 4x4 word grid?

The LM alone (default recipe size), its image slot holding a grid of category words and
"empty", then "Is the A to the left of the B?". Phases of (objects, relations, steps), and an
optional auxiliary loss (weight SUP) that supervises a pointer: layer-0 head-0 attention from
each object word in the question to the grid cell holding that object. Prints held-out
accuracy on 2-object left-only and 4-object all-relation questions every 100 steps.

    .venv/bin/python bench/spatial_pointer.py "2:left:300;4:left,above:400;4:left,right,above,below:900" 1

Session 5 results (docs/training.md): SUP=1 with that curriculum reaches 0.99 on 4-object
all-relation questions by step 1300; without the pointer loss the same LM stays at chance.
"""
import random, sys, time, torch
import torch.nn.functional as F
from vlmeval.vlm.train import build_model, Recipe
from vlmeval.vlm.loop import pad_batch, answer_loss
from vlmeval.vlm.tokenizer import BOS
from vlmeval.data import scenes, prompts
torch.set_num_threads(1)
SIDE = 4
PHASES = [(int(n), rels.split(","), int(s)) for n, rels, s in (p.split(":") for p in sys.argv[1].split(";"))]
SUP = float(sys.argv[2])
torch.manual_seed(0)
model, tok = build_model(Recipe())
lm = model.lm
def enc(s): return tok.encode(s, add_special_tokens=False).ids
EMPTY = tok.token_to_id("empty"); CUE = enc("answer:")
def example(r, N, RELS):
    while True:
        cells = r.sample(range(SIDE * SIDE), N)
        cats = r.sample(scenes.CATEGORIES, N)
        i, j = r.sample(range(N), 2); rel = r.choice(RELS)
        axis, sign = prompts.RELATIONS[rel]
        pa = divmod(cells[i], SIDE)[axis]; pb = divmod(cells[j], SIDE)[axis]
        if pa != pb: break
    g = [EMPTY] * (SIDE * SIDE)
    for c, k in zip(cells, cats): g[c] = tok.token_to_id(k)
    ans = "yes" if (pa - pb) * sign > 0 else "no"
    q = enc(prompts.spatial_question(cats[i], rel, cats[j]))
    prompt = [BOS] + g + q + CUE
    # pointer targets: position of each object word in the prompt -> 1 + its cell
    ptr = []
    for pos, t in enumerate(prompt[17:], start=17):
        for c, k in zip(cells, cats):
            if t == tok.token_to_id(k): ptr.append((pos, 1 + c))
    return prompt, enc(ans) + [3], ptr
vr = random.Random(7); ALL = list(prompts.RELATIONS)
vals = {"2left": [example(vr, 2, ["left"]) for _ in range(300)],
        "4all": [example(vr, 4, ALL) for _ in range(400)]}
def fwd(ids, ptrs=None):
    B, T = ids.shape
    x = lm.embed(ids) + lm.pos(torch.arange(T).expand(B, T))
    aux = torch.zeros(())
    if ptrs is not None and SUP > 0:
        blk = lm.blocks[0]; h = blk.ln1(x); H = blk.attn.heads; D = x.shape[-1]
        q = blk.attn.q(h).view(B, T, H, D // H)[:, :, 0]
        k = blk.attn.kv(h).view(B, T, 2, H, D // H)[:, :, 0, 0]
        logits = q @ k.transpose(1, 2) / (D // H) ** 0.5  # (B, T, T)
        rows, poss, tgts = [], [], []
        for b, pl in enumerate(ptrs):
            for pos, tgt in pl: rows.append(b); poss.append(pos); tgts.append(tgt)
        sel = logits[rows, poss]  # (M, T)
        mask = torch.arange(T)[None, :] > torch.tensor(poss)[:, None]
        aux = F.cross_entropy(sel.masked_fill(mask, -1e9), torch.tensor(tgts))
    # standard forward (positions added inside lm)
    hdn, _ = lm(lm.embed(ids), torch.arange(T).expand(B, T))
    return lm.logits(hdn), aux
@torch.no_grad()
def acc():
    out = {}
    for k, val in vals.items():
        ids, labels = pad_batch([p for p, _, _ in val], [a for _, a, _ in val])
        pos = torch.tensor([len(p) - 1 for p, _, _ in val])
        pred = fwd(ids)[0][torch.arange(len(val)), pos].argmax(-1)
        out[k] = round((pred == torch.tensor([a[0] for _, a, _ in val])).float().mean().item(), 3)
    return out
params = list(lm.parameters())
opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
r = random.Random(0); t0 = time.time(); step = 0
for N, RELS, STEPS in PHASES:
    print("phase", N, RELS, STEPS, flush=True)
    for _ in range(STEPS):
        rows = [example(r, N, RELS) for _ in range(64)]
        ids, labels = pad_batch([p for p, _, _ in rows], [a for _, a, _ in rows])
        logits, aux = fwd(ids, [p for _, _, p in rows])
        loss = answer_loss(logits, labels) + SUP * aux
        if step % 100 == 0: print(step, round(time.time() - t0), round(loss.item(), 3), round(float(aux.detach()), 3), acc(), flush=True)
        opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(params, 1.0); opt.step(); step += 1
print(step, round(time.time() - t0), acc(), flush=True)
