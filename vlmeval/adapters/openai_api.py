"""OpenAIAdapter: a served model behind the OpenAI chat-completions protocol (vLLM, SGLang, TGI,
`transformers serve`, hosted APIs), through the official `openai` client.

- Each request is one user message: the image as a base64 data URL of its original bytes
  (generated images as PNG), then the text; the server applies the model's chat template.
- Greedy settings: temperature 0, max_tokens from the request, a fixed seed. run.json records
  them with the model id and system fingerprint the server reports.
- Concurrency: each batch runs with up to `max_concurrency` requests in flight (results kept in
  request order); `rpm` spaces request starts. Retries (429 with Retry-After, 5xx, timeouts,
  dropped connections: exponential backoff with jitter) are the client's own; a request that
  still fails is `Failed` (recorded as that sample's error, retried on resume). When every
  request of a batch failed to connect, the next batch raises `Unavailable`: the run stops,
  everything stored is kept.
- Score mode only where the server returns log-probabilities: an option's score combines the
  first-token log-probabilities of its surface forms ("yes", "Yes", " yes", ...) among the
  top ones returned; otherwise the adapter has no "score" capability.
- The API key is read from an environment variable (`api_key_env`) and never written anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from scipy.special import logsumexp

from vlmeval.adapters.base import Failed, Reply, same_request
from vlmeval.adapters.hf import surface_forms
from vlmeval.errors import ConfigError, Unavailable, first_line
from vlmeval.records import Request

SCHEME = "openai:"
TOP_LOGPROBS = 20  # the most the OpenAI API returns per position
PROBE_PROMPT = "Answer yes or no: is the sky blue?"
# Failures that mean the endpoint is not there (after the client's retries), as _failed words
# them: no connection, no answer in time, or a gateway with no server behind it.
UNREACHABLE = ("APIConnectionError", "APITimeoutError", "InternalServerError 502",
               "InternalServerError 503", "InternalServerError 504")


def _number(options: dict, key: str, cast, default, low: float):
    value = options.pop(key, default)
    try:
        value = cast(value) if value is not None else None
    except (TypeError, ValueError):
        raise ConfigError(f"--model-arg {key}={value}: expected a number") from None
    if value is not None and value < low:
        raise ConfigError(f"--model-arg {key}={value}: must be at least {low}")
    return value


class _Spacing:
    """At most `rpm` request starts per minute, spread evenly (None: no limit)."""

    def __init__(self, rpm: float | None) -> None:
        self.interval = 60.0 / rpm if rpm else 0.0
        self.next_start = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_start)
            self.next_start = start + self.interval
        time.sleep(start - now)


class OpenAIAdapter:
    """A model served behind an OpenAI-compatible /v1/chat/completions endpoint."""

    def __init__(self, spec: str, *, base_url: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", **options: Any) -> None:
        try:
            import openai
        except ImportError:
            raise ConfigError(f"--model {spec}: served models need the openai package: pip "
                              f"install 'vlmeval[api]'") from None
        self.name = spec
        self.model = spec[len(SCHEME):]
        if not self.model:
            raise ConfigError(f"--model {spec}: name the served model after {SCHEME!r}, e.g. "
                              f"{SCHEME}llava-hf/llava-1.5-7b-hf (the name the server lists)")
        if "api_key" in options:
            raise ConfigError("--model-arg api_key: never put a key on the command line (it would "
                              "be recorded in run.json); export it and name the variable with "
                              "--api-key-env")
        self.max_concurrency = int(_number(options, "max_concurrency", int, 8, 1))
        rpm = _number(options, "rpm", float, None, 0.001)
        timeout = _number(options, "timeout", float, 120.0, 0.001)
        max_retries = int(_number(options, "max_retries", int, 6, 0))
        self.seed = _number(options, "seed", int, 0, 0)
        prices = {k: _number(options, f"price_{k}", float, None, 0.0) for k in ("prompt", "completion")}
        logprobs = str(options.pop("logprobs", "auto")).lower()
        if logprobs not in ("auto", "true", "false"):
            raise ConfigError(f"--model-arg logprobs={logprobs}: expected auto, true or false")
        if options:
            raise ConfigError(f"--model-arg {next(iter(options))}: not an option of served models "
                              f"(they read base_url, api_key_env, max_concurrency, rpm, timeout, "
                              f"max_retries, seed, logprobs, price_prompt, price_completion)")
        key = os.environ.get(api_key_env)
        if base_url is None and not key:
            raise ConfigError(f"--model {spec}: no --base-url and no key in ${api_key_env}; pass "
                              f"--base-url http://HOST:PORT/v1 for a local server, or export "
                              f"{api_key_env} for a hosted API")
        self.base_url = base_url or "https://api.openai.com/v1"
        self.client = openai.OpenAI(base_url=self.base_url, api_key=key or "not-needed",
                                    timeout=timeout, max_retries=max_retries)
        self._openai = openai
        self._spacing = _Spacing(rpm)
        self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="vlmeval-api")
        self._first_token: dict[tuple, list[tuple[str, float]]] = {}  # answers' first tokens
        self._unreachable = None  # the error of a batch in which nothing connected
        self._counts = {"requests": 0, "failed": 0, "prompt_tokens": 0, "completion_tokens": 0}
        self._fingerprints: set[str] = set()
        self._lock = threading.Lock()
        probe = self._probe(logprobs)
        self.served_model = probe.model
        self.capabilities = frozenset({"generate", "score"} if self.logprobs else {"generate"})
        self.fingerprint = hashlib.sha256(json.dumps(
            [self.base_url, self.model, self.served_model]).encode()).hexdigest()[:16]
        self.settings = {
            "temperature": 0, "max_tokens": "per request", "seed": self.seed,
            "top_logprobs": TOP_LOGPROBS if self.logprobs else None,
            "max_concurrency": self.max_concurrency, "rpm": rpm, "timeout_s": timeout,
            "max_retries": max_retries, "api_key_env": api_key_env}
        self.prices = {k: v for k, v in prices.items() if v is not None} or None

    # --- setup --------------------------------------------------------------------------------

    def _probe(self, logprobs: str):
        """One short request: the server is reachable, serves the model, and (unless told)
        whether it returns log-probabilities."""
        ask = logprobs != "false"
        try:
            response = self._create([{"role": "user", "content": PROBE_PROMPT}], 1, ask)
        except self._openai.APIStatusError as e:
            raise ConfigError(f"--model {self.name}: {self.base_url} answered {e.status_code} "
                              f"({first_line(e)}); check the model name (the server's "
                              f"/v1/models lists it) and the key") from None
        except self._openai.APIError as e:
            raise ConfigError(f"--model {self.name}: cannot reach {self.base_url} "
                              f"({type(e).__name__}: {first_line(e)}); is the server running, "
                              f"and is --base-url its /v1 address?") from None
        got = bool(ask and response.choices and response.choices[0].logprobs
                   and response.choices[0].logprobs.content)
        if logprobs == "true" and not got:
            raise ConfigError(f"--model-arg logprobs=true: {self.base_url} returned no "
                              f"log-probabilities; drop it to run without score mode")
        self.logprobs = got
        self._note(response)
        return response

    def _create(self, messages: list[dict], max_tokens: int, logprobs: bool):
        extra = {"logprobs": True, "top_logprobs": TOP_LOGPROBS} if logprobs else {}
        return self.client.chat.completions.create(
            model=self.model, messages=messages, max_tokens=max_tokens, temperature=0,
            seed=self.seed, **extra)

    def _note(self, response) -> None:
        with self._lock:
            if response.system_fingerprint:
                self._fingerprints.add(response.system_fingerprint)

    # --- protocol -----------------------------------------------------------------------------

    def info(self) -> dict:
        return {"served_model": self.served_model, "base_url": self.base_url,
                "system_fingerprint": sorted(self._fingerprints) or None,
                "generation": self.settings, "prices_per_million_tokens": self.prices,
                "option_scores": (f"first-token log-probabilities (top {TOP_LOGPROBS}) of the "
                                  f"option's surface forms, combined; a form not among them "
                                  f"counts as the lowest returned" if self.logprobs
                                  else "unavailable: the server returns no log-probabilities"),
                "images": "original bytes as base64 data URLs (generated images as PNG)"}

    def counters(self) -> dict:
        with self._lock:
            return {**self._counts, "system_fingerprints": sorted(self._fingerprints)}

    def generate(self, requests: Sequence[Request]) -> list[str | Failed]:
        if self._unreachable is not None:
            error, self._unreachable = self._unreachable, None
            raise Unavailable(f"{self.base_url} is unreachable: every request of the last batch "
                              f"failed ({error}); what was stored is kept, and running the same "
                              f"command again resumes when the server is back")
        out = list(self._pool.map(self._generate_one, requests))
        failures = [o for o in out if isinstance(o, Failed)]
        if failures and len(failures) == len(out) and all(
                f.error.startswith(UNREACHABLE) for f in failures):
            self._unreachable = failures[0].error
        return out

    def score(self, requests: Sequence[Request]) -> list[list[float] | Failed]:
        return list(self._pool.map(self._score_one, requests))

    # --- one request --------------------------------------------------------------------------

    def _messages(self, request: Request) -> list[dict]:
        content: list[dict] = []
        if request.image is not None:
            from vlmeval.data import encoded_image

            data, mime = encoded_image(request.image)
            content.append({"type": "image_url", "image_url": {
                "url": f"data:{mime};base64,{base64.b64encode(data).decode()}"}})
        content.append({"type": "text", "text": request.prompt})
        return [{"role": "user", "content": content}]

    def _call(self, request: Request, max_tokens: int):
        self._spacing.wait()
        with self._lock:
            self._counts["requests"] += 1
        response = self._create(self._messages(request), max_tokens,
                                self.logprobs and bool(request.options))
        self._note(response)
        if not response.choices:
            raise ValueError("the server returned no choices")
        choice = response.choices[0]
        if self.logprobs and request.options and choice.logprobs and choice.logprobs.content:
            first = choice.logprobs.content[0]
            with self._lock:
                self._first_token[same_request(request)] = [
                    (t.token, t.logprob) for t in first.top_logprobs] or [(first.token, first.logprob)]
        return response, choice

    def _generate_one(self, request: Request) -> Reply | Failed:
        try:
            response, choice = self._call(request, request.max_new_tokens)
        except Exception as e:  # noqa: BLE001 - after the client's retries: this sample's error
            return self._failed(e)
        usage = None
        if response.usage is not None:
            usage = {"prompt_tokens": response.usage.prompt_tokens,
                     "completion_tokens": response.usage.completion_tokens}
            with self._lock:
                for k, v in usage.items():
                    self._counts[k] += v or 0
        return Reply(choice.message.content or "", usage)

    def _score_one(self, request: Request) -> list[float] | Failed:
        key = same_request(request)  # the image too: doctor asks the same question of others
        with self._lock:
            top = self._first_token.pop(key, None)
        if top is None:
            try:
                self._call(request, 1)
            except Exception as e:  # noqa: BLE001 - as in generate
                return self._failed(e)
            with self._lock:
                top = self._first_token.pop(key, None)
            if top is None:
                return Failed("the server returned no log-probabilities for this request")
        floor = min(lp for _, lp in top)
        scores = []
        for option in request.options:
            forms = set(surface_forms(option))
            found = [lp for token, lp in top if token in forms]
            scores.append(float(logsumexp(found)) if found else floor)
        return scores

    def _failed(self, e: Exception) -> Failed:
        with self._lock:
            self._counts["failed"] += 1
        status = getattr(e, "status_code", None)
        return Failed(f"{type(e).__name__}{f' {status}' if status else ''}: {first_line(e)}")
