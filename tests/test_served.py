"""Served models (openai:NAME) against a real server: `transformers serve` on a tiny LLaVA
built here, with and without a fault-injecting proxy in front of it (tests/served.py).

The server takes ~10 s to start, so the tests that use it are slow (CI runs them)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from hf_families import FAMILIES
from served import FaultProxy, Server, free_port
from vlmeval.cli import main


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("served") / "llava"
    path.mkdir()
    FAMILIES["llava"](path)
    return path


@pytest.fixture(scope="module")
def server(checkpoint):
    s = Server(checkpoint).start()
    yield s
    s.stop()


def served(checkpoint: Path, url: str, out: Path, *what: str) -> list[str]:
    return ["run", "--model", f"openai:{checkpoint}", "--base-url", f"{url}/v1", *what,
            "--out", str(out), "-q"]


def records(out: Path) -> dict[str, dict[str, dict]]:
    """task -> request id -> record (and no request id twice)."""
    tasks = {}
    for path in sorted((out / "samples").glob("*.jsonl")):
        lines = [json.loads(line) for line in path.open()]
        ids = [r["request_id"] for r in lines]
        assert len(ids) == len(set(ids)), f"{path.name}: a request stored twice"
        tasks[path.stem] = {r["request_id"]: r for r in lines}
    return tasks


def metrics(out: Path) -> dict:
    results = json.loads((out / "results.json").read_text())["tasks"]
    return {t: {k: m["value"] for k, m in r["metrics"].items()} for t, r in results.items()}


POPE = ("--tasks", "pope", "--limit", "4")  # 72 requests


@pytest.fixture(scope="module")
def clean_pope(checkpoint, server, tmp_path_factory):
    """The fault-free served run the fault runs must equal."""
    out = tmp_path_factory.mktemp("clean") / "run"
    assert main(served(checkpoint, server.url, out, *POPE)) == 0
    return out


@pytest.mark.slow
def test_served_outputs_equal_the_hf_adapter_on_the_same_checkpoint(checkpoint, server, tmp_path,
                                                                    monkeypatch):
    """The same greedy outputs, request by request, through the server as in process; the
    server-reported model and token usage recorded; the key never written anywhere."""
    secret = "sk-test-never-written-0123456789"
    monkeypatch.setenv("VLMEVAL_TEST_KEY", secret)
    what = ("--suite", "hallucination", "--limit", "40")
    api, local = tmp_path / "api", tmp_path / "local"
    assert main([*served(checkpoint, server.url, api, *what), "--api-key-env", "VLMEVAL_TEST_KEY",
                 "--model-arg", "price_prompt=0.5", "--model-arg", "price_completion=2"]) == 0
    assert main(["run", "--model", str(checkpoint), *what, "--out", str(local), "-q"]) == 0
    served_records, local_records = records(api), records(local)
    assert set(served_records) == {"pope", "chair", "image_swap", "blind"}
    for task, by_id in served_records.items():
        assert by_id.keys() == local_records[task].keys()
        differ = [i for i, r in by_id.items() if r["raw"] != local_records[task][i]["raw"]]
        assert not differ, f"{task}: {len(differ)} outputs differ, e.g. {differ[0]}"
        assert all(r["error"] is None and r["usage"]["completion_tokens"] >= 1 for r in by_id.values())
    # every metric the served run has equals the in-process one; what it lacks is score mode
    # (transformers serve returns no log-probabilities), which the in-process run has for POPE
    served_metrics, local_metrics = metrics(api), metrics(local)
    for task, values in served_metrics.items():
        assert values.items() <= local_metrics[task].items(), task
    assert set(local_metrics["pope"]) - set(served_metrics["pope"]) >= {"random/roc_auc"}
    model = json.loads((api / "run.json").read_text())["model"]
    assert model["adapter"] == "OpenAIAdapter" and model["served_model"] == str(checkpoint)
    assert model["generation"]["temperature"] == 0 and model["generation"]["api_key_env"] == "VLMEVAL_TEST_KEY"
    pope = json.loads((api / "results.json").read_text())["tasks"]["pope"]
    usage = pope["usage"]
    assert usage["requests"] == pope["n_requests"] and usage["prompt_tokens"] > usage["completion_tokens"]
    assert usage["cost"] == pytest.approx((0.5 * usage["prompt_tokens"] + 2 * usage["completion_tokens"]) / 1e6)
    assert not any("roc" in m or "ece" in m for m in pope["metrics"])  # none made up
    for path in api.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"{path} holds the key"


@pytest.mark.slow
def test_faults_lose_and_duplicate_nothing(checkpoint, server, clean_pope, tmp_path):
    """429 with Retry-After, 500s, a hung response and a dropped connection: the client's
    retries absorb them; every request is stored once and the metrics equal the clean run."""
    faults = {3: "429", 5: "500", 6: "500", 9: "hang", 14: "drop", 30: "429"}
    with FaultProxy(server.url, faults, hang_s=4.0) as proxy:
        out = tmp_path / "run"
        assert main([*served(checkpoint, proxy.url, out, *POPE), "--model-arg", "timeout=2"]) == 0
    assert sorted(proxy.injected) == sorted(faults.items())
    got, clean = records(out), records(clean_pope)
    assert {i: r["raw"] for i, r in got["pope"].items()} == {i: r["raw"] for i, r in clean["pope"].items()}
    assert all(r["error"] is None for r in got["pope"].values())
    assert metrics(out) == metrics(clean_pope)


@pytest.mark.slow
def test_server_killed_and_restarted_mid_run(checkpoint, server, clean_pope, tmp_path):
    """The server dies after 20 requests and comes back on the same port; requests in the gap
    get 502 from the gateway and are retried with backoff until it answers."""
    restarted = threading.Event()

    def kill_and_restart(n: int) -> None:
        if n == 20:
            server.stop()
            threading.Thread(target=lambda: (server.start(), restarted.set()), daemon=True).start()

    with FaultProxy(server.url) as proxy:
        proxy.on_request = kill_and_restart
        out = tmp_path / "run"
        assert main([*served(checkpoint, proxy.url, out, *POPE), "--model-arg", "max_retries=8"]) == 0
    assert restarted.wait(120)
    assert {i: r["raw"] for i, r in records(out)["pope"].items()} == \
        {i: r["raw"] for i, r in records(clean_pope)["pope"].items()}
    assert metrics(out) == metrics(clean_pope)


@pytest.mark.slow
def test_a_server_that_stays_down_stops_the_run_and_it_resumes(checkpoint, server, clean_pope,
                                                               tmp_path, capsys):
    """Down for good after 20 requests: the run stops (exit 3) with one line saying so, keeps
    what it stored, and the same command finishes it once the server is back."""
    with FaultProxy(server.url) as proxy:
        proxy.on_request = lambda n: server.stop() if n == 20 else None
        out = tmp_path / "run"
        argv = [*served(checkpoint, proxy.url, out, *POPE), "--model-arg", "max_retries=1",
                "--batch-size", "16"]
        capsys.readouterr()
        assert main(argv) == 3
        err = capsys.readouterr().err
        assert "unreachable" in err and "resumes" in err
        run = json.loads((out / "run.json").read_text())
        assert run["status"] == "interrupted"
        stored = [r for r in records(out)["pope"].values() if r["error"] is None]
        assert len(stored) >= 16  # the first batch, answered before the server went away
        server.start()
        assert main(argv) == 0
    assert {i: r["raw"] for i, r in records(out)["pope"].items()} == \
        {i: r["raw"] for i, r in records(clean_pope)["pope"].items()}
    assert metrics(out) == metrics(clean_pope)


@pytest.mark.slow
def test_doctor_on_an_endpoint(checkpoint, server, capsys):
    """Reachable and serving the model (or doctor could not start), two identical batches
    agree (determinism), and the image check runs on what the server answers."""
    code = main(["doctor", "--model", f"openai:{checkpoint}", "--base-url", f"{server.url}/v1",
                 "--n", "4"])
    out = capsys.readouterr().out
    assert "OpenAIAdapter" in out and "batch 1 vs 4  agree: outputs 4/4 equal" in out
    assert f"served        {checkpoint} at {server.url}/v1 · option scores no" in out
    assert code == (0 if "image reaches yes" in out else 1)


def test_an_endpoint_that_is_not_there_is_one_line_and_exit_2(tmp_path, capsys):
    port = free_port()
    assert main(["run", "--model", "openai:some-model", "--base-url", f"http://127.0.0.1:{port}/v1",
                 "--tasks", "pope", "--limit", "1", "--out", str(tmp_path / "r"),
                 "--model-arg", "max_retries=0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"cannot reach http://127.0.0.1:{port}/v1" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("argv, message", [
    (["--model-arg", "api_key=sk-123"], "never put a key on the command line"),
    (["--model-arg", "max_concurrency=0"], "max_concurrency=0: must be at least 1"),
    (["--model-arg", "temperature=1"], "--model-arg temperature: not an option of served models"),
    (["--model-arg", "novalue"], "expected KEY=VALUE"),
    (["--dtype", "bfloat16"], "--model-arg dtype: not an option of served models"),
])
def test_bad_served_model_options_are_one_line_errors(argv, message, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-used")
    assert main(["run", "--model", "openai:m", "--base-url", "http://127.0.0.1:9/v1",
                 "--tasks", "pope", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "sk-123" not in err


def test_no_base_url_and_no_key_says_what_to_do(capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["run", "--model", "openai:gpt-4o", "--tasks", "pope"]) == 2
    err = capsys.readouterr().err
    assert "--base-url" in err and "OPENAI_API_KEY" in err


class LogprobServer:
    """An OpenAI-compatible endpoint that returns first-token log-probabilities, as vLLM and
    SGLang do (transformers serve does not): it answers "Yes" to questions with an image and
    "No" to those without, with fixed top log-probabilities, and counts the requests."""

    TOP = {True: [("Yes", -0.1), (" yes", -2.5), ("No", -3.0)],
           False: [("No", -0.2), ("no", -1.9), ("Yes", -2.2)]}

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        server = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each reply waits ~40 ms for an ACK

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests += 1
                content = body["messages"][-1]["content"]
                image = isinstance(content, list) and any(c["type"] == "image_url" for c in content)
                top = [{"token": t, "logprob": lp, "bytes": None} for t, lp in server.TOP[image]]
                reply = {
                    "id": "x", "object": "chat.completion", "created": 0, "model": "canned-vlm",
                    "system_fingerprint": "fp_canned",
                    "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8},
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": top[0]["token"]},
                                 "logprobs": {"content": [{**top[0], "top_logprobs": top}]}
                                 if body.get("logprobs") else None}]}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_option_scores_from_returned_logprobs_combine_surface_forms(tmp_path):
    import math

    canned = LogprobServer()
    try:
        out = tmp_path / "run"
        assert main(["run", "--model", "openai:canned-vlm", "--base-url", canned.url, "--tasks",
                     "pope,blind", "--limit", "2", "--out", str(out), "-q"]) == 0
    finally:
        canned.close()
    run = json.loads((out / "run.json").read_text())["model"]
    assert run["served_model"] == "canned-vlm" and run["system_fingerprint"] == ["fp_canned"]
    assert run["generation"]["top_logprobs"] == 20
    stored = records(out)
    yes_no = {True: [math.log(math.exp(-0.1) + math.exp(-2.5)), -3.0],
              False: [-2.2, math.log(math.exp(-0.2) + math.exp(-1.9))]}
    for by_id in stored.values():
        for r in by_id.values():
            assert r["option_logprobs"] == pytest.approx(yes_no[r["image"] is not None])
    n = sum(len(by_id) for by_id in stored.values())
    assert canned.requests == n + 1  # one probe, then one request each: scores reuse the answer's
    pope = json.loads((out / "results.json").read_text())["tasks"]["pope"]
    assert pope["metrics"]["random/roc_auc"]["n"] > 0
