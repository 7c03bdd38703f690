"""HFAdapter: any local Hugging Face image-text-to-text checkpoint, without per-family code.

- The checkpoint's own processor and chat template build every input: each request becomes one
  user message (an image part when it has an image, then its text) with the generation prompt.
- generate: batched greedy decoding (do_sample=False, one beam) with left padding; each
  request keeps at most its own max_new_tokens, cut at the first end-of-sequence token.
- score: each option's score is the log of the summed probability of its surface forms
  ("yes", "Yes", " yes", ...) as continuations of the templated prompt, one forward pass over
  prompt + continuation rows (the processor expanding images per row as the family needs);
  one-token forms come from the next-token distribution, so yes/no needs one row per request.
- Vision features once per distinct image (`VisionCache`): in the families whose vision tower
  reads one pixel row per image or tile (VISION_CACHE_FAMILIES, each checked in tests against
  the uncached path), each distinct row goes through the tower once, alone (so its features
  do not depend on the batch it came in), and is reused by every request that shows it.
- Processors that build a video processor (needs torchvision) load without it where it
  cannot be built (`image_only`); run.json's model.video says so.
- Offline and safe: local directories only (`local_files_only`; `vlmeval/__init__.py` sets the
  HF offline switches),
  `trust_remote_code` only when asked, safetensors weights preferred and pickle weights
  refused unless allowed.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import inspect
import json
import types
from pathlib import Path
from typing import Sequence

from vlmeval.adapters.base import Ahead, answer_key, same_request
from vlmeval.errors import ConfigError, first_line
from vlmeval.records import ImageRef, Request


PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
_ANY_IMAGE = ImageRef("synthetic", "blank", "")  # render() only asks whether there is one


SURFACE_FORMS_NOTE = ("log of the summed probability of the option's surface forms: as given, "
                      "lower, Capitalised, UPPER, each with and without a leading space")

# The prompt BLIP-2's authors use for VQA, for processors that carry no chat template.
FALLBACK_PROMPT = "Question: {question} Answer:"


# Families whose get_image_features maps pixel rows (images, or tiles) one to one onto
# features, computed row by row: tests/test_hf_adapter.py checks each against the uncached path.
VISION_CACHE_FAMILIES = frozenset({"llava", "paligemma", "gemma3", "aya_vision", "internvl"})
VISION_CACHE_IMAGES = 32  # distinct rows kept (a 7B LLaVA's are 4.7 MB each in bfloat16)

# Families whose language model reads one position per token (position_ids from the attention
# mask, causal attention throughout) and whose prompt holds an image as placeholder tokens
# filled from the image's features: a prompt's image prefix (everything up to its last image
# placeholder) can then be computed once for every request of a batch that shares it, and the
# rest of each prompt continued from that prefix's cache (HFAdapter._shared_prefix).
# tests/test_hf_adapter.py checks each against the unshared path. Gemma 3 attends within an
# image bidirectionally (token types mark its tokens): the prefix holds the whole image, so its
# pass does that. Not here: Qwen-VL (3-D M-RoPE positions), PaliGemma (the whole prompt is
# bidirectional), Mllama (cross-attention: no image tokens in the prompt), BLIP-2 and
# InstructBLIP.
SHARED_PREFIX_FAMILIES = frozenset({"llava", "llava_next", "llava_onevision", "aya_vision",
                                    "internvl", "idefics2", "idefics3", "smolvlm", "gemma3"})


class VisionCache:
    """Wraps a model's get_image_features so that each distinct pixel row (an image, or a tile
    of one) goes through the vision tower once and alone, its features kept (LRU) for every
    later request that shows it. Keyed by the row's bytes and the call's other arguments; a
    call with tensor arguments beside pixel_values (per-image sizes) goes through unchanged."""

    def __init__(self, module, capacity: int) -> None:
        from collections import OrderedDict

        self.original = module.get_image_features
        self.capacity = capacity
        self.items: OrderedDict = OrderedDict()
        self.rows = 0  # pixel rows that went through the vision tower

        @functools.wraps(self.original)  # generate reads the signature to pick its arguments
        def get_image_features(pixel_values, **kwargs):
            return self(pixel_values, **kwargs)

        module.get_image_features = get_image_features

    def __call__(self, pixel_values, **kwargs):
        import torch
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        if any(torch.is_tensor(v) for v in kwargs.values()) or pixel_values.dim() != 4:
            self.rows += int(pixel_values.shape[0])
            return self.original(pixel_values=pixel_values, **kwargs)
        # generate passes only what it has; forward passes None for the rest (the defaults)
        context = repr(sorted((k, v) for k, v in kwargs.items()
                              if k != "return_dict" and v is not None))
        keys = [(context, hashlib.blake2b(row.detach().contiguous().view(-1).view(torch.uint8)
                                          .cpu().numpy().tobytes(), digest_size=16).hexdigest())
                for row in pixel_values]
        batch: dict = {}  # this call's rows, kept even when the LRU evicts them
        for i, key in enumerate(keys):
            if key in batch:
                continue
            if key in self.items:
                self.items.move_to_end(key)
                batch[key] = self.items[key]
                continue
            out = self.original(pixel_values=pixel_values[i:i + 1], **{**kwargs, "return_dict": True})
            features = out.pooler_output
            self.rows += 1
            batch[key] = self.items[key] = (features[0], isinstance(features, (list, tuple)))
        while len(self.items) > self.capacity:
            self.items.popitem(last=False)
        rows = [batch[k] for k in keys]
        features = ([f for f, _ in rows] if rows[0][1] else torch.stack([f for f, _ in rows]))
        return BaseModelOutputWithPooling(pooler_output=features)


def surface_forms(option: str) -> list[str]:
    """How a chat model may write an option: as given, lower case, Capitalised and UPPER case,
    each with and without a leading space (duplicates dropped, order kept)."""
    cases = (option, option.lower(), option[:1].upper() + option[1:], option.upper())
    return list(dict.fromkeys(prefix + c for c in cases for prefix in ("", " ")))


def is_hf_checkpoint(path: Path) -> bool:
    """A transformers model directory with a processor: config.json naming a model type."""
    config = path / "config.json"
    if not config.is_file() or not any((path / f).is_file() for f in PROCESSOR_FILES):
        return False
    try:
        return "model_type" in json.loads(config.read_text())
    except (json.JSONDecodeError, OSError):
        return False


def image_only(processor_class: type) -> type:
    """`processor_class` without its video processor: Qwen2-VL, InternVL, LLaVA-OneVision and
    others build one, which needs torchvision, even to read images. Their processors' __call__
    skips videos when the attribute is absent; everything else is the family's own code."""
    attributes = [a for a in processor_class.get_attributes() if a != "video_processor"]

    # SmolVLM's __init__ has no default for video_processor: the same function with one (from_
    # pretrained reads the parameter names from its code, so a wrapper would lose them).
    init = processor_class.__init__
    code = init.__code__
    positional = code.co_varnames[1:code.co_argcount]
    defaults = init.__defaults__ or ()
    __init__ = types.FunctionType(code, init.__globals__, init.__name__,
                                  (None,) * (len(positional) - len(defaults)) + tuple(defaults),
                                  init.__closure__)
    __init__.__kwdefaults__ = init.__kwdefaults__
    return type(processor_class.__name__, (processor_class,),
                {"__init__": __init__, "get_attributes": classmethod(lambda cls: list(attributes)),
                 "__doc__": f"{processor_class.__name__} for images only (no video processor)"})


def _processor_class(path: Path) -> type | None:
    """The processor class a checkpoint names (processor_class in its processor files), else
    the one transformers maps its model_type to."""
    import transformers
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    for name in (*PROCESSOR_FILES, "tokenizer_config.json"):
        try:
            named = json.loads((path / name).read_text()).get("processor_class")
        except (OSError, json.JSONDecodeError, AttributeError):
            continue
        if isinstance(named, str):
            return getattr(transformers, named, None)
    model_type = json.loads((path / "config.json").read_text()).get("model_type")
    named = PROCESSOR_MAPPING_NAMES.get(model_type)
    return getattr(transformers, named, None) if isinstance(named, str) else None


def weights_fingerprint(path: Path, allow_pickle: bool) -> str:
    """sha256 over config, processor files, chat template and weights (bytes, in name order)."""
    weights = sorted(p for p in path.iterdir() if p.suffix == ".safetensors")
    pickles = sorted(p for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if not weights and pickles and not allow_pickle:
        raise ConfigError(f"{path}: only pickle weights ({pickles[0].name}); pickle can run code "
                          f"when loaded. Convert to safetensors, or pass --allow-pickle if you "
                          f"trust this checkpoint")
    if not weights and not pickles:
        raise ConfigError(f"{path}: no weights (*.safetensors) in the directory")
    h = hashlib.sha256()
    others = [p for p in sorted(path.iterdir()) if p.suffix in (".json", ".jinja", ".model")]
    for p in [*others, *(weights or pickles)]:
        h.update(p.name.encode())
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


class HFAdapter:
    """A local Hugging Face image-text-to-text checkpoint (AutoProcessor + AutoModel)."""

    capabilities = frozenset({"generate", "score"})

    def __init__(self, name: str, path: Path | str, *, dtype: str | None = None,
                 device: str | None = None, trust_remote_code: bool = False,
                 allow_pickle: bool = False, vision_cache: int | str = VISION_CACHE_IMAGES,
                 shared_prefix: bool = True, prefetch: bool = False) -> None:
        import torch
        import transformers

        self.name = name
        self.path = Path(path)
        self.fingerprint = weights_fingerprint(self.path, allow_pickle)
        from vlmeval.distributed import local_device

        self.device = local_device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        dtype = dtype or ("bfloat16" if self.device.startswith("cuda") else "float32")
        if dtype not in ("float32", "bfloat16", "float16"):
            raise ConfigError(f"--dtype {dtype}: expected float32, bfloat16 or float16")
        common = {"local_files_only": True, "trust_remote_code": trust_remote_code}
        self.video = "as the processor provides"
        self.prefill_scored = 0  # requests whose option scores came from generate's first step
        self._form_cache: dict[str, list[tuple[int, ...]]] = {}
        self.processor = self._load_processor(transformers, common)
        if getattr(self.processor, "tokenizer", None) is None:
            raise ConfigError(f"{self.path}: AutoProcessor found no tokenizer (got "
                              f"{type(self.processor).__name__}); save the processor with its "
                              f"tokenizer (processor.save_pretrained) into this directory")
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"
        self.model = self._load_model(transformers, torch, dtype, common).eval()
        self.vision_cache = self._cache_vision(vision_cache)
        self.shared_prefix = shared_prefix and self.model.config.model_type in SHARED_PREFIX_FAMILIES
        self.prefix_rows = 0  # image prefixes computed by the shared-prefix pass
        self.prefetch_inputs = prefetch
        self._prefetcher = None  # the thread's processor copy, made on the first prefetch
        self._prefetched = Ahead()  # keyed by the ids of requests, as generate splits them
        self.prefetched = 0  # requests whose inputs were built ahead, in the background
        self.settings = {"do_sample": False, "num_beams": 1, "dtype": dtype, "device": self.device,
                         "max_new_tokens": "per request", "trust_remote_code": trust_remote_code}

    def _load_processor(self, transformers, common: dict):
        """AutoProcessor; where that fails because the family's video processor cannot be built
        (no torchvision), the same processor without it (run.json says video is unavailable)."""
        try:
            return transformers.AutoProcessor.from_pretrained(self.path, **common)
        except (OSError, ValueError, ImportError, AttributeError, KeyError) as e:
            error = e
        cls = _processor_class(self.path)
        if cls is not None and "video_processor" in cls.get_attributes():
            try:
                processor = image_only(cls).from_pretrained(self.path, **common)
            except (OSError, ValueError, ImportError, AttributeError, KeyError, TypeError) as e:
                error = e
            else:
                self.video = (f"unavailable: {cls.__name__}'s video processor could not be built "
                              f"({type(error).__name__}: {first_line(error)}); images only")
                if "apply_chat_template" in vars(cls):  # SmolVLM's reads its video processor's
                    processor.apply_chat_template = functools.partial(  # frame count: the
                        transformers.ProcessorMixin.apply_chat_template, processor)  # base one
                return processor
        raise ConfigError(
            f"{self.path}: transformers {transformers.__version__} could not load its processor "
            f"({type(error).__name__}: {first_line(error)}); some families need extra packages, "
            f"and custom code needs --trust-remote-code") from None

    def _load_model(self, transformers, torch, dtype: str, common: dict):
        kwargs = {**common, "dtype": getattr(torch, dtype),
                  "use_safetensors": any(self.path.glob("*.safetensors"))}
        if self.device.startswith("cuda"):
            kwargs["device_map"] = self.device
        try:
            model = transformers.AutoModelForImageTextToText.from_pretrained(self.path, **kwargs)
        except ValueError as auto_error:  # a family the auto class does not map: its own class
            config = json.loads((self.path / "config.json").read_text())
            classes = [getattr(transformers, a, None) for a in config.get("architectures", [])]
            if not any(classes):
                raise ConfigError(f"{self.path / 'config.json'}: no image-text-to-text model class "
                                  f"for model_type {config.get('model_type')!r} ({auto_error})") from None
            model = next(c for c in classes if c).from_pretrained(self.path, **kwargs)
        return model if self.device.startswith("cuda") else model.to(self.device)

    def _cache_vision(self, capacity: int | str) -> VisionCache | None:
        try:
            capacity = int(capacity)
        except ValueError:
            raise ConfigError(f"--model-arg vision_cache={capacity}: expected a number of images "
                              f"(0 turns the cache off)") from None
        inner = getattr(self.model, "base_model", self.model)
        if (capacity <= 0 or self.model.config.model_type not in VISION_CACHE_FAMILIES
                or not hasattr(inner, "get_image_features")):
            return None
        return VisionCache(inner, capacity)

    def info(self) -> dict:
        family = self.model.config.model_type
        cache = (f"each distinct image once (the last {self.vision_cache.capacity} kept)"
                 if self.vision_cache is not None else
                 "off (--model-arg vision_cache=0)" if family in VISION_CACHE_FAMILIES else
                 f"every request's own ({family} is not among the families checked for the cache)")
        prefix = ("once per distinct image and prefix in a batch, each prompt continued from its "
                  "cache" if self.shared_prefix else
                  "in every request's prefill (--model-arg shared_prefix=false)"
                  if family in SHARED_PREFIX_FAMILIES else
                  f"in every request's prefill ({family} is not among the families checked for "
                  f"a shared prefix)")
        inputs = ("the next batch's built in a background thread while the model computes "
                  "(--model-arg prefetch=true)" if self.prefetch_inputs else
                  "each batch's built before it is computed")
        return {"params": sum(p.numel() for p in self.model.parameters()),
                "vision_features": cache, "image_prefix": prefix, "inputs": inputs,
                "image_tokens": self._image_tokens(), "family": self.model.config.model_type,
                "class": type(self.model).__name__, "generation": self.settings,
                "video": self.video, "option_scores": SURFACE_FORMS_NOTE,
                "prompt_format": ("chat template" if self.processor.chat_template is not None
                                  else f"no chat template: {FALLBACK_PROMPT!r}")}

    def counters(self) -> dict:
        counters = {"scored_from_prefill": self.prefill_scored, "inputs_prefetched": self.prefetched}
        if self.vision_cache is not None:
            counters["vision_rows"] = self.vision_cache.rows
        if self.shared_prefix:
            counters["prefix_rows"] = self.prefix_rows
        return counters

    # --- inputs -------------------------------------------------------------------------------

    answer_key = staticmethod(answer_key)  # greedy decoding of image, prompt and options

    def render(self, requests: Sequence[Request], processor=None) -> list[str]:
        """The prompt text after the chat template, one per request (stored in the samples).
        A processor without a chat template (BLIP-2, InstructBLIP) gets FALLBACK_PROMPT; its
        processor adds the image's query tokens itself. processor: the prefetch thread's copy."""
        processor = self.processor if processor is None else processor
        if processor.chat_template is None:
            return [FALLBACK_PROMPT.format(question=r.prompt) for r in requests]
        out = []
        for r in requests:
            content = ([{"type": "image"}] if r.image is not None else []) + [
                {"type": "text", "text": r.prompt}]
            out.append(processor.apply_chat_template(
                [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False))
        return out

    def prefetch(self, requests: Sequence[Request]) -> None:
        """Start building the inputs of the batch the runner computes next (chat template, image
        decoding, the processor) in a background thread, while the model computes the current
        one: preprocessing off the model's critical path. `_inputs` takes them when it is asked
        for exactly those requests (as generate splits them), and builds its own otherwise.
        The thread has its own copy of the processor: a fast tokenizer used by two threads at
        once fails ("Already borrowed"). The inputs are the ones the same call builds here.
        Off unless asked for (`--model-arg prefetch=true`): the thread holds the GIL for the
        Python part of the processor, which stalls a model whose own time is mostly Python.
        On CPU it gave 1.05-1.09x the samples/s with LLaVA-1.5's proportions (336 px images)
        but 0.84-0.93x on the tests' tiny LLaVA (bench/README.md); on a GPU it has not been
        measured."""
        self._prefetched.told()
        if not self.prefetch_inputs or not requests:
            return
        if self._prefetcher is None:
            self._prefetcher = copy.deepcopy(self.processor)
        for idx in self._parts(requests):
            part = [requests[i] for i in idx]
            self._prefetched.start(tuple(map(id, part)), self._cpu_inputs, part, self._prefetcher)

    def _inputs(self, requests: Sequence[Request]):
        """The model's inputs for these requests, on its device: prefetched, or built now."""
        ready = self._prefetched.take(tuple(map(id, requests)))
        if ready is not None:
            batch = ready.result()  # the exception building them raised, if any
            self.prefetched += len(requests)
        else:
            batch = self._cpu_inputs(requests, self.processor)
        return batch.to(self.device)

    def _cpu_inputs(self, requests: Sequence[Request], processor):
        from vlmeval.data import load_images

        texts = self.render(requests, processor)
        # One list of images per prompt: a flat list of two images reads, for several families
        # (Gemma 3, SmolVLM, Mllama), as one prompt holding both.
        images = [[img] for img in load_images([r.image for r in requests]) if img is not None]
        if not images:  # some processors (PaliGemma) insist on images: text goes to the tokenizer
            return processor.tokenizer(texts, padding=True, return_tensors="pt")
        return processor(text=texts, images=images, padding=True, return_tensors="pt")

    @staticmethod
    def _parts(requests: Sequence[Request]) -> list[list[int]]:
        """The positions of the requests with images, then of those without (processors
        differ on mixed batches); empty parts left out."""
        parts = [[i for i, r in enumerate(requests) if (r.image is not None) == has_image]
                 for has_image in (True, False)]
        return [idx for idx in parts if idx]

    @classmethod
    def _split(cls, requests: Sequence[Request], run) -> list:
        """`run` on each of `_parts`, results back in request order."""
        out: list = [None] * len(requests)
        for idx in cls._parts(requests):
            for i, value in zip(idx, run([requests[i] for i in idx])):
                out[i] = value
        return out

    def _image_tokens(self) -> int | None:
        """Tokens one image occupies in the prompt: occurrences of the processor's image token
        (None when the processor names none or the count fails)."""
        from PIL import Image

        from vlmeval.data.scenes import IMAGE_SIZE

        config = self.model.config
        token = self._image_token_id()
        if token is None:
            return None
        texts = self.render([Request(task="info", request_id="0", sample_id="0", prompt="?",
                                     image=_ANY_IMAGE, target="")])
        try:
            batch = self.processor(text=texts, images=[[Image.new("RGB", (IMAGE_SIZE,) * 2)]],
                                   return_tensors="pt")
        except Exception:  # noqa: BLE001 - informational only
            return None
        if "cross_attention_mask" in batch:  # Mllama: the text cross-attends to every tile's
            vision = config.vision_config  # patches and class token; none sit in the prompt
            tiles = int(batch["cross_attention_mask"].shape[-1])
            return tiles * ((vision.image_size // vision.patch_size) ** 2 + 1)
        return int((batch["input_ids"] == token).sum())

    # --- generate and score -------------------------------------------------------------------

    def _model_for(self, requests: Sequence[Request]):
        """The model itself; for a batch without images on a family whose forward requires
        pixel_values (BLIP-2, InstructBLIP), its language model, which reads text alone."""
        if any(r.image is not None for r in requests):
            return self.model
        needs = inspect.signature(self.model.forward).parameters.get("pixel_values")
        if needs is None or needs.default is not inspect.Parameter.empty:
            return self.model
        lm = getattr(self.model, "language_model", None)
        if lm is None or not hasattr(lm, "generate") or lm.get_output_embeddings() is None:
            raise ConfigError(f"{self.path}: this {self.model.config.model_type} model needs an "
                              f"image with every request; it cannot answer text-only requests")
        return lm

    def generate(self, requests: Sequence[Request]) -> list[str]:
        self._prefill_scores = {}  # only this batch's: score follows generate on the same batch
        return self._split(requests, self._generate)

    def score(self, requests: Sequence[Request]) -> list[list[float]]:
        return self._split(requests, self._score)

    def _generate(self, requests: Sequence[Request]) -> list[str]:
        import torch

        batch = self._inputs(requests)
        scoring = any(r.options for r in requests)  # every step's logits are kept: only then
        with torch.no_grad():
            steps = max(r.max_new_tokens for r in requests)
            if self.shared_prefix and requests[0].image is not None:
                batch = self._shared_prefix(requests, batch, steps) or batch
            out = self._model_for(requests).generate(
                **batch, max_new_tokens=steps,
                do_sample=False, num_beams=1, pad_token_id=self.tokenizer.pad_token_id,
                return_dict_in_generate=True, output_logits=scoring)
        if scoring:
            self._keep_prefill_scores(requests, out.logits[0])
        new = out.sequences[:, batch["input_ids"].shape[1]:]
        eos = self.model.generation_config.eos_token_id
        eos = set(eos if isinstance(eos, list) else [eos]) | {self.tokenizer.eos_token_id}
        texts = []
        for r, row in zip(requests, new.tolist()):
            row = row[: r.max_new_tokens]
            cut = next((i for i, t in enumerate(row) if t in eos), len(row))
            texts.append(self.tokenizer.decode(row[:cut], skip_special_tokens=True).strip())
        return texts

    def _shared_prefix(self, requests: Sequence[Request], batch, steps: int) -> dict | None:
        """generate's inputs with each image prefix computed once per batch (SHARED_PREFIX_FAMILIES).
        A row's image prefix is its prompt up to its last image placeholder; the rows with the
        same image and prefix tokens share one forward pass over it. Each row then reads
        [its prefix, padding, the rest of its prompt], generate continuing from the prefixes'
        cache (one row per request): the attention mask hides the padding and generate's
        position ids count unmasked tokens only, so every token sees what it sees in the plain
        left-padded row, at the same position. The same split whatever the batch holds, so a
        request is computed the same way in any batch. None (the plain batch is used) where a
        row has no placeholder or nothing after it, an image input is not one row per request,
        a token type marks the rest of a prompt, or the rows and `steps` new tokens could
        outgrow a sliding attention window (the padding inside a row would count against it)."""
        import torch
        import transformers

        from vlmeval.vlm.template import left_pad

        ids, mask = batch["input_ids"], batch["attention_mask"]
        B = ids.shape[0]
        T = ids.shape[1]
        extra = {k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask")}
        if any(not torch.is_tensor(v) or v.shape[0] != B for v in extra.values()):
            return None  # an image input that is not one row per request
        per_token = {k: v for k, v in extra.items() if v.dim() == 2 and v.shape[1] == T}  # token types
        images = {k: v for k, v in extra.items() if k not in per_token}
        rows = [row[m.bool()].tolist() for row, m in zip(ids.cpu(), mask.cpu())]
        token = self._image_token_id()
        cut = [max((i for i, t in enumerate(row) if t == token), default=len(row)) + 1 for row in rows]
        if any(c >= len(row) for c, row in zip(cut, rows)):
            return None
        # Token types (Gemma 3's mark image tokens, attended bidirectionally) go with the prefix
        # pass; generate gets none, so the rest of each prompt must be plain text (type 0).
        types = {k: [row[m.bool()].tolist() for row, m in zip(v.cpu(), mask.cpu())]
                 for k, v in per_token.items()}
        if any(any(row[c:]) for rows_ in types.values() for row, c in zip(rows_, cut)):
            return None
        window = getattr(self.model.config.get_text_config(), "sliding_window", None)
        if window and max(cut) + max(len(row) - c for row, c in zip(rows, cut)) + steps > window:
            return None
        keys = [(r.image, tuple(row[:c])) for r, row, c in zip(requests, rows, cut)]
        firsts: dict = {}  # each distinct prefix's first row
        for i, key in enumerate(keys):
            firsts.setdefault(key, i)
        group = {key: g for g, key in enumerate(firsts)}
        first = list(firsts.values())
        pad = self.tokenizer.pad_token_id or 0
        prefix_ids, prefix_mask = (t.to(ids.device) for t in left_pad([list(k[1]) for k in group], pad))
        # The cache is passed, not asked for with use_cache=True, which the model would hand on
        # to get_image_features: VisionCache keys its rows by those arguments too.
        try:
            cache = transformers.DynamicCache(config=self.model.config)
        except TypeError:  # transformers before 4.56
            cache = transformers.DynamicCache()
        params = inspect.signature(self.model.forward).parameters
        name = "cache" if "cache" in params else "past_key_values"  # "cache" from transformers 5.2x
        last = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
        prefix_types = {k: left_pad([v[i][:cut[i]] for i in first], 0)[0].to(per_token[k])
                        for k, v in types.items()}
        self.model(input_ids=prefix_ids, attention_mask=prefix_mask, **{name: cache}, **last,
                   position_ids=(prefix_mask.cumsum(-1) - 1).clamp(min=0),
                   **{k: v[first] for k, v in images.items()}, **prefix_types)
        self.prefix_rows += len(group)
        which = torch.tensor([group[key] for key in keys], device=ids.device)
        cache.reorder_cache(which)  # one row per request
        rests = [row[c:] for row, c in zip(rows, cut)]
        rest_ids, rest_mask = (t.to(ids.device) for t in left_pad(rests, pad))
        return {"input_ids": torch.cat([prefix_ids[which], rest_ids], dim=1),
                "attention_mask": torch.cat([prefix_mask[which], rest_mask], dim=1), name: cache}

    def _image_token_id(self) -> int | None:
        """The id the model replaces with image features (Gemma 3's soft token, not the begin-of-
        image token its processor also names), else the processor's."""
        config = self.model.config
        return next((t for t in (getattr(config, "image_token_id", None),
                                 getattr(config, "image_token_index", None),
                                 getattr(self.processor, "image_token_id", None)) if t is not None),
                    None)

    def _forms(self, option: str) -> list[tuple[int, ...]]:
        """The distinct token sequences of an option's surface forms (`surface_forms`); an
        adapter sees few distinct options, each tokenized once."""
        if option not in self._form_cache:
            self._form_cache[option] = self._tokenize_forms(option)
        return self._form_cache[option]

    def _tokenize_forms(self, option: str) -> list[tuple[int, ...]]:
        seqs = dict.fromkeys(tuple(self.tokenizer(f, add_special_tokens=False)["input_ids"])
                             for f in surface_forms(option))
        seqs.pop((), None)
        if not seqs:
            raise ConfigError(f"{self.path}: option {option!r} tokenizes to nothing; options must "
                              f"be text")
        return list(seqs)

    def _keep_prefill_scores(self, requests: Sequence[Request], first_logits) -> None:
        """One pass where one suffices: a request whose options' surface forms are one token
        each (yes/no) is scored from generate's first-step distribution, kept for `_score`."""
        import torch

        logprobs = None
        for i, r in enumerate(requests):
            forms = [self._forms(o) for o in r.options]
            if not forms or any(len(f) != 1 for option in forms for f in option):
                continue
            if logprobs is None:
                logprobs = torch.log_softmax(first_logits.float(), dim=-1).cpu()
            self._prefill_scores[same_request(r)] = [
                float(torch.logsumexp(logprobs[i, [f[0] for f in option]], dim=0))
                for option in forms]

    def _score(self, requests: Sequence[Request]) -> list[list[float]]:
        kept = getattr(self, "_prefill_scores", {})
        if all(same_request(r) in kept for r in requests):
            self.prefill_scored += len(requests)
            return [kept.pop(same_request(r)) for r in requests]
        return self._score_rows(requests)

    def _score_rows(self, requests: Sequence[Request]) -> list[list[float]]:
        """An option's score is the log of the summed probability of its surface forms ("yes",
        "Yes", " yes", ...: what a chat model may say). Continuations are appended after the
        processed prompt (so a processor that ends the prompt with its own separator, as
        PaliGemma's does, keeps it), right-padded. One-token forms are read from the
        next-token distribution at the prompt's end, so each request needs one row per
        longer form, and one row in all when every form is a single token (yes/no)."""
        import torch

        forms = [[self._forms(o) for o in r.options] for r in requests]
        rows: list[tuple[Request, tuple[int, ...]]] = []
        row_of: dict[tuple[int, tuple[int, ...]], int] = {}  # (request, longer form) -> row
        first_row = []
        for i, (r, per_option) in enumerate(zip(requests, forms)):
            first_row.append(len(rows))
            longer = dict.fromkeys(f for option in per_option for f in option if len(f) > 1)
            for f in longer or [()]:
                row_of[i, f] = len(rows)
                rows.append((r, f))
        batch = self._inputs([r for r, _ in rows])
        ids = batch["input_ids"]
        R, T = ids.shape
        L = max(len(f) for _, f in rows)
        tail = torch.full((R, L), self.tokenizer.pad_token_id or 0, dtype=ids.dtype)
        tail_mask = torch.zeros((R, L), dtype=batch["attention_mask"].dtype)
        for k, (_, f) in enumerate(rows):
            tail[k, : len(f)] = torch.tensor(f, dtype=ids.dtype)
            tail_mask[k, : len(f)] = 1
        for key, value in list(batch.items()) if L else ():
            if not torch.is_tensor(value) or value.dim() < 2 or tuple(value.shape[:2]) != (R, T):
                continue
            if key == "input_ids":
                extra = tail.to(value.device)
            elif key == "attention_mask":
                extra = tail_mask.to(value.device)
            elif key == "token_type_ids" and self.model.config.model_type == "paligemma":
                # PaliGemma: 1 marks the suffix, attended causally; elsewhere (Gemma 3) a token
                # type of 1 means "image", and option tokens are text like the prompt's end.
                extra = torch.ones((R, L), dtype=value.dtype, device=value.device)
            else:
                extra = value[:, -1:].expand(R, L, *value.shape[2:])  # any rank (Mllama: 4-D)
            batch[key] = torch.cat([value, extra], dim=1)
        with torch.no_grad():
            logits = self._model_for(requests)(**batch).logits[:, T - 1:].float()
        logprobs = torch.log_softmax(logits, dim=-1).cpu()  # position 0: the prompt's next token
        out = []
        for i, per_option in enumerate(forms):
            scores = []
            for option in per_option:
                totals = [logprobs[row_of[i, f], torch.arange(len(f)), torch.tensor(f)].sum()
                          if len(f) > 1 else logprobs[first_row[i], 0, f[0]] for f in option]
                scores.append(float(torch.logsumexp(torch.stack(totals), dim=0)))
            out.append(scores)
        return out
