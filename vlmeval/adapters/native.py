"""NativeAdapter: our own VLM from a checkpoint directory (`vlmeval.vlm.checkpoint`).

- generate: batched greedy decoding with a KV cache; prompts are left-padded with an attention
  mask, so a request decodes the same alone or in a batch. The image's prefix of every prompt
  (<bos> and the image tokens, the same for every question about that image) goes through the
  LM once per image: its keys and values are kept per image (an LRU within 256 MiB) and each
  request's prefill computes only its question, attending to them (prefix connectors on the
  built-in LM; the same outputs, scores equal to float rounding, tests/test_native.py).
- score: log-probabilities of each request's options from one forward pass over
  prompt + option rows (the sum over the option's tokens, as lm-evaluation-harness does).
- prefetch: told the next batch by the runner, a background thread decodes its images (from
  files and datasets) while the current batch computes (`--model-arg prefetch=false` turns it
  off).
- Vision features are cached by (encoder fingerprint, image sha256), shared by every adapter in
  the process: the encoder runs once per unique image, and models that share an encoder (the
  zoo's connector variants) share its features. `counters()` reports encoder calls.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from vlmeval.adapters.base import Ahead, answer_key, image_key, same_request
from vlmeval.data import load_image
from vlmeval.data.scenes import image_sha256
from vlmeval.records import ImageRef, Request
from vlmeval.vlm import template
from vlmeval.vlm.checkpoint import load_checkpoint
from vlmeval.vlm.tokenizer import PAD
from vlmeval.vlm.vision import VisionEncoder


class FeatureCache:
    """LRU of vision-encoder outputs, keyed by (encoder fingerprint, image sha256)."""

    def __init__(self, capacity: int = 8192) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple[str, str], torch.Tensor] = OrderedDict()

    def __contains__(self, key: object) -> bool:  # a look that leaves the order alone
        return key in self._items

    def get(self, key: tuple[str, str]) -> torch.Tensor | None:
        if key in self._items:
            self._items.move_to_end(key)
        return self._items.get(key)

    def put(self, key: tuple[str, str], value: torch.Tensor) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)


FEATURES = FeatureCache()
GENERATED = ("scenes", "synthetic")  # image sources drawn in this process, not decoded
PREFIX_CACHE_BYTES = 256 * 2**20  # image prefixes' keys and values kept (68 KB each on the zoo
# models: 3,855 images, more than the main job's 2,173)


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.hexdigest()[:16]


class NativeAdapter:
    """Our own VLM from a vlmeval checkpoint directory (config.json says "format": "vlmeval-vlm")."""

    capabilities = frozenset({"generate", "score"})

    def __init__(self, name: str, path: Path | str, cache: FeatureCache = FEATURES,
                 accept_changed_weights: bool = False, prefix_cache: int | None = None,
                 prefetch: bool = True) -> None:
        self.name = name
        self.path = Path(path)
        self.model, self.tokenizer, self.train_record = load_checkpoint(
            self.path, accept_changed_weights=accept_changed_weights)
        self.cache = cache
        self.fingerprint = _digest(*((self.path / f).read_bytes() for f in
                                     ("config.json", "model.safetensors", "tokenizer.json")))
        state = self.model.vision.state_dict()
        self.encoder_fingerprint = _digest(repr(self.model.cfg.vision).encode(),
                                           *(state[k].numpy().tobytes() for k in sorted(state)))
        self.encoder_calls = 0  # images that went through the vision encoder
        self.prefill_scored = 0  # requests whose option scores came from generate's prefill
        self._option_cache: dict[str, list[int]] = {}
        self.image_size = self.model.cfg.vision.image_size
        # Shared image prefix: for prefix connectors on the built-in LM (an HF LM's cache and a
        # cross_attn model's per-step memory do not split this way).
        # prefix_cache: images kept (None: as many as PREFIX_CACHE_BYTES holds; 0: off).
        self._prefix = template.prompt_ids(self.tokenizer, "", self.model.image_tokens)[
            : 1 + self.model.image_tokens]  # <bos> <image> x image_tokens
        lm = self.model.cfg.lm
        if prefix_cache is None:  # keys and values, float32, every layer
            prefix_cache = max(1, PREFIX_CACHE_BYTES // (2 * 4 * lm.depth * lm.dim * len(self._prefix)))
        self.prefixes = (FeatureCache(prefix_cache) if prefix_cache > 0 and lm.hf is None
                         and self.model.connector.kind == "prefix" else None)
        self.prefix_calls = 0  # images whose prefix went through the LM
        self.prefetch_images = prefetch
        self._decoded = Ahead()  # image -> its (sha256, pixels), decoded in the background
        self.prefetched = 0  # images decoded ahead, in the background

    def info(self) -> dict:
        return {"params": self.model.num_params(), "image_tokens": self.model.image_tokens,
                "connector": self.model.cfg.connector.name,
                "encoder_fingerprint": self.encoder_fingerprint,
                "image_prefix": (f"once per image (the last {self.prefixes.capacity} kept)"
                                 if self.prefixes is not None else "in every request's prefill"),
                "image_decoding": ("from files and datasets, the next batch's in a background "
                                   "thread while the model computes; generated ones when needed"
                                   if self.prefetch_images else "when its batch computes "
                                   "(--model-arg prefetch=false)")}

    def counters(self) -> dict:
        counters = {"encoder_calls": self.encoder_calls, "scored_from_prefill": self.prefill_scored,
                    "images_prefetched": self.prefetched}
        if self.prefixes is not None:
            counters["prefix_calls"] = self.prefix_calls
        return counters

    # --- images -> features -------------------------------------------------------------------

    def prefetch(self, requests: Sequence[Request]) -> None:
        """Start decoding the images of the batch the runner computes next, in a background
        thread while the model computes the current one: those read from files or datasets
        whose features or image prefix are not kept already (decoding and resizing took 1 of
        the 2.1 s in adapter calls of a run over 640 x 480 JPEGs, and Pillow decodes without
        holding the GIL). Generated images (the scenes world, blank, noise) are drawn in this
        thread when needed: a thread for them cost the main job about 2% of its computing (six
        alternating pairs). An image's pixels do not depend on its batch, so `_image_features`
        takes them for any request that shows it."""
        self._decoded.told()
        if not self.prefetch_images:
            return
        fp = self.encoder_fingerprint
        for ref in dict.fromkeys(r.image for r in requests if r.image is not None
                                 and r.image.source not in GENERATED):
            kept = ref.sha256 and ((fp, ref.sha256) in self.cache or (
                self.prefixes is not None and image_key(ref) in self.prefixes))
            if not kept and ref not in self._decoded:
                self._decoded.start(ref, self._decode, ref)

    def _decode(self, ref: ImageRef) -> tuple[str, torch.Tensor]:
        """An image's sha256 (its reference's, else its pixels') and its model input."""
        image = load_image(ref)
        return ref.sha256 or image_sha256(image), self._pixels(image)

    def _take(self, ref: ImageRef) -> tuple[str, torch.Tensor]:
        ahead = self._decoded.take(ref)
        if ahead is None:
            return self._decode(ref)
        self.prefetched += 1
        return ahead.result()  # the exception decoding it raised, if any

    def _pixels(self, image: Image.Image) -> torch.Tensor:
        if image.size != (self.image_size, self.image_size):
            image = image.resize((self.image_size, self.image_size), Image.BICUBIC)
        return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
                                ).permute(2, 0, 1)  # (3, S, S)

    @torch.inference_mode()  # no autograd bookkeeping: same outputs, ~4% less time (main job)
    def _features(self, requests: Sequence[Request]) -> torch.Tensor | None:
        """Connector features of the requests that have an image, in request order."""
        refs = [r.image for r in requests if r.image is not None]
        return self._image_features(refs) if refs else None

    def _image_features(self, refs: Sequence[ImageRef]) -> torch.Tensor:
        fp = self.encoder_fingerprint
        distinct = list(dict.fromkeys(refs))
        # An image whose features are cached is not decoded again: its sha256 is its key.
        missing = [ref for ref in distinct if not ref.sha256 or self.cache.get((fp, ref.sha256)) is None]
        decoded = {ref: self._take(ref) for ref in missing}  # (sha256, pixels)
        digest = {ref: ref.sha256 or decoded[ref][0] for ref in distinct}
        todo = {digest[ref]: ref for ref in missing if self.cache.get((fp, digest[ref])) is None}
        if todo:
            for key, features in zip(todo, self._encode([decoded[ref][1] for ref in todo.values()])):
                self.cache.put((fp, key), features)
            self.encoder_calls += len(todo)
        patches = torch.stack([self.cache.get((fp, digest[ref])) for ref in refs])  # (B_img, N, Dv)
        return self.model.connector(patches)

    def _encode(self, pixels: list[torch.Tensor]) -> torch.Tensor:
        """Patch features of images (3, S, S), each the same bits whichever images share its
        call, so results do not depend on batching, resuming or torchrun sharding. The
        convolutional stem's output moves in the last bits when it takes more than one image
        (measured on the zoo models: every image's, at batch sizes 2 to 96), so it sees one image
        at a time; the blocks' matrix products give each row the same bits at any batch size
        (tests/test_native.py checks both together), so they take all the images at once. An
        encoder of another kind (a Hugging Face vision tower) sees one image per call."""
        vision = self.model.vision
        if not isinstance(vision, VisionEncoder):
            return torch.cat([vision(p[None]) for p in pixels])
        return vision.encode(torch.cat([vision.embed(p[None]) for p in pixels]))

    # --- batching -----------------------------------------------------------------------------

    def _prompts(self, requests: Sequence[Request]) -> list[list[int]]:
        n = self.model.image_tokens
        return [template.prompt_ids(self.tokenizer, r.prompt, n if r.image is not None else 0)
                for r in requests]

    answer_key = staticmethod(answer_key)  # greedy: the answer is a function of the request
    # Requests per batch unless the run names a size: the main job took 12.3-12.4 s at 64
    # against 12.9-13.4 s at 32 (three alternating pairs), with the same records at 8, 32, 64
    # and 128 (a row's bits do not depend on its batch).
    default_batch_size = 64

    @torch.inference_mode()
    def generate(self, requests: Sequence[Request]) -> list[str]:
        if not requests:
            return []
        steps = max(r.max_new_tokens for r in requests)
        logits, cache, mask, features = self._prefill(requests)
        image_rows = torch.tensor([r.image is not None for r in requests])
        self._keep_prefill_scores(requests, logits[:, -1])
        cache = self.model.lm.reserve(cache, mask.shape[1] + steps)  # decode steps write in place
        out = torch.zeros(len(requests), 0, dtype=torch.long)
        done = torch.zeros(len(requests), dtype=torch.bool)
        limits = torch.tensor([r.max_new_tokens for r in requests])
        eos = template.special(self.tokenizer, "<eos>")
        for step in range(steps):
            token = logits[:, -1].argmax(-1)  # (B,) greedy
            token = torch.where(done, torch.full_like(token, PAD), token)
            out = torch.cat([out, token[:, None]], dim=1)
            done |= (token == eos) | (step + 1 >= limits)
            if bool(done.all()):
                break
            mask = torch.cat([mask, torch.ones(len(requests), 1, dtype=torch.long)], dim=1)
            logits, cache = self.model(token[:, None], features, image_rows,
                                       attention_mask=mask, past=cache)
        return [template.decode(self.tokenizer, row[: int(limit)].tolist())
                for row, limit in zip(out, limits)]

    def _prefill(self, requests: Sequence[Request]
                 ) -> tuple[torch.Tensor, list, torch.Tensor, torch.Tensor | None]:
        """The prompts' forward pass: logits (B, T, V), the KV cache, the attention mask (B, S)
        it was computed under and the image features decoding steps need (cross_attn). With the
        shared prefix, rows are [image prefix, left padding, question]: the mask hides the
        padding and positions count real tokens only, so every token sees what it sees in the
        plain left-padded row, at the same position."""
        prompts = self._prompts(requests)
        image_rows = torch.tensor([r.image is not None for r in requests])
        if self.prefixes is None or not bool(image_rows.any()):
            ids, mask = template.left_pad(prompts)
            features = self._features(requests)
            logits, cache = self.model(ids, features, image_rows, attention_mask=mask)
            return logits, cache, mask, features
        P = len(self._prefix)
        past = self._image_prefixes([r.image for r in requests])
        rests = []
        for r, prompt in zip(requests, prompts):
            if r.image is not None:
                assert prompt[:P] == self._prefix, "prompts start with the image prefix"
            rests.append(prompt[P:] if r.image is not None else prompt)
        ids, rest_mask = template.left_pad(rests)
        mask = torch.cat([image_rows.long()[:, None].expand(-1, P), rest_mask], dim=1)
        logits, cache = self.model(ids, None, image_rows, attention_mask=mask, past=past)
        return logits, cache, mask, None

    def _image_prefixes(self, refs: Sequence[ImageRef | None]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per LM layer, each row's image-prefix keys and values (B, H, P, Dh), computed once
        per image (the images new to the cache in one forward pass); zeros for rows without
        an image, which the attention mask hides."""
        rows = {}  # this batch's, held here so the LRU cannot drop them mid-batch
        for ref in dict.fromkeys(r for r in refs if r is not None):
            found = self.prefixes.get(image_key(ref))
            if found is not None:
                rows[image_key(ref)] = found
        new = list(dict.fromkeys(r for r in refs if r is not None and image_key(r) not in rows))
        if new:
            ids = torch.tensor([self._prefix] * len(new))
            _, kv = self.model(ids, self._image_features(new), torch.ones(len(new), dtype=torch.bool))
            for j, ref in enumerate(new):
                rows[image_key(ref)] = [(k[j].clone(), v[j].clone()) for k, v in kv]
                self.prefixes.put(image_key(ref), rows[image_key(ref)])
            self.prefix_calls += len(new)
        blank = [(torch.zeros_like(k), torch.zeros_like(v)) for k, v in next(iter(rows.values()))]
        per_row = [rows[image_key(r)] if r is not None else blank for r in refs]
        return [(torch.stack([row[i][0] for row in per_row]), torch.stack([row[i][1] for row in per_row]))
                for i in range(len(blank))]

    def _keep_prefill_scores(self, requests: Sequence[Request], last: torch.Tensor) -> None:
        """One pass where one suffices: for a request whose options are one token each (yes/no),
        its option scores are read from generate's prefill (the next-token distribution after
        the prompt) and kept for `score`, which then needs no forward pass of its own."""
        self._prefill_scores = {}
        logprobs = torch.log_softmax(last.float(), dim=-1)
        for i, r in enumerate(requests):
            ids = [self._option_ids(o) for o in r.options]
            if ids and all(len(t) == 1 for t in ids):
                self._prefill_scores[same_request(r)] = [float(logprobs[i, t[0]]) for t in ids]

    def _option_ids(self, option: str) -> list[int]:
        if option not in self._option_cache:  # few distinct options: each tokenized once
            self._option_cache[option] = self.tokenizer.encode(option, add_special_tokens=False).ids
        return self._option_cache[option]

    @torch.inference_mode()
    def score(self, requests: Sequence[Request]) -> list[list[float]]:
        """Sum of log p(option tokens | prompt) per option, all options in one forward pass
        (or none: options of one token each, scored by the generate call just before)."""
        if not requests:
            return []
        kept = getattr(self, "_prefill_scores", {})
        if all(same_request(r) in kept for r in requests):
            self.prefill_scored += len(requests)
            return [kept.pop(same_request(r)) for r in requests]
        prompts = self._prompts(requests)
        rows, spans, owners = [], [], []
        for i, (r, prompt) in enumerate(zip(requests, prompts)):
            for option in r.options:
                option_ids = self._option_ids(option)
                rows.append(prompt + option_ids)
                spans.append(len(option_ids))
                owners.append(i)
        features = self._features(requests)
        if features is not None:  # one copy of an image's features per option row
            per_request = {i: k for k, i in enumerate(j for j, r in enumerate(requests)
                                                        if r.image is not None)}
            features = features[[per_request[i] for i in owners if i in per_request]]
        image_rows = torch.tensor([requests[i].image is not None for i in owners])
        ids, mask = template.left_pad(rows)
        logits, _ = self.model(ids, features, image_rows, attention_mask=mask)
        logprobs = torch.log_softmax(logits.float(), dim=-1)  # (R, T, V)
        T = ids.shape[1]
        totals = []
        for k, span in enumerate(spans):
            positions = torch.arange(T - span, T)  # the option's tokens (rows are left-padded)
            totals.append(float(logprobs[k, positions - 1, ids[k, positions]].sum()))
        out, k = [], 0
        for r in requests:
            out.append(totals[k: k + len(r.options)])
            k += len(r.options)
        return out
