"""Command line: `vlmeval run | rescore | train | doctor | report | compare | gate | baseline |
list`.

Imports of the engine happen inside the commands, so `vlmeval --help` is instant.
Exit codes: 0 success, 2 bad input (one-line error), 3 run incomplete (more failed requests
than --max-error-rate allows; run the same command again to retry them), 130 interrupted
(resume by running the same command again), 143 terminated (SIGTERM; resume likewise).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Sequence


def _bounded(convert, low: float, high: float, what: str):
    """An argparse type: `convert(text)` within [low, high], else "expected <what>"."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value
    return parse


_positive_int = _bounded(int, 1, float("inf"), "a whole number >= 1")


def _batch_size(text: str) -> int | str:
    if text == "auto":
        return text
    return _bounded(int, 1, float("inf"), "a whole number >= 1 or auto")(text)
_seed = _bounded(int, 0, float("inf"), "a whole number >= 0")
_rate = _bounded(float, 0.0, 1.0, "a number between 0 and 1")


EXIT_INCOMPLETE = 3


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line (the command, the option, what is wrong, where help is), exit 2."""

    def error(self, message: str):
        print(f"{self.prog}: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


def _model_options(parser: argparse.ArgumentParser) -> None:
    """Options passed to the model's factory: --model-arg KEY=VALUE, and flags standing for the
    common ones. Each factory names any option it does not read as an error."""
    parser.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="an option for the model's adapter (repeatable); see the README's "
                             "model sections")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"],
                        help="Hugging Face models: weights dtype (default bfloat16 on GPU, "
                             "float32 on CPU)")
    parser.add_argument("--device", help="Hugging Face models: cpu, cuda or cuda:N (default: "
                                         "cuda if available)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="Hugging Face models: run the checkpoint's own Python code (off by "
                             "default)")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="Hugging Face models: load pickle weights (*.bin) when there are no "
                             "safetensors (pickle can run code)")
    parser.add_argument("--base-url", help="served models (openai:NAME): the endpoint, e.g. "
                                           "http://127.0.0.1:8000/v1 (default: OpenAI's)")
    parser.add_argument("--api-key-env", metavar="VAR",
                        help="served models: environment variable holding the API key "
                             "(OPENAI_API_KEY); a local server needs none")
    parser.add_argument("--max-concurrency", type=_positive_int, metavar="N",
                        help="served models: requests in flight (8)")
    parser.add_argument("--rpm", type=float, metavar="R",
                        help="served models: at most R request starts per minute")
    parser.add_argument("--threads", type=_seed,
                        metavar="N", help="torch CPU threads (default 1, or $OMP_NUM_THREADS; 0: "
                                          "torch's own default, one per core); see the README")


def set_threads(threads: int | None) -> None:
    """torch's CPU threads: --threads, else $OMP_NUM_THREADS, else 1. One thread is the default
    because several collapse on a machine whose cores are busy (the main job: 42 s with two
    threads and 52 s with one on 2 idle cores, but 759-1,949 s with two and 67-80 s with one
    beside a CPU-bound neighbour; issue 25's measurements)."""
    if threads is None:
        if os.environ.get("OMP_NUM_THREADS"):
            return
        threads = 1
    if threads == 0:
        return
    os.environ["OMP_NUM_THREADS"] = str(threads)  # read by torch when it is first imported
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def model_options(args: argparse.Namespace) -> dict:
    """The model options from --model-arg and the flags that stand for them."""
    from vlmeval.errors import ConfigError

    options: dict = {}
    for item in args.model_arg:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"--model-arg {item!r}: expected KEY=VALUE, e.g. "
                              f"--model-arg max_concurrency=16")
        options[key] = value
    flags = {"dtype": args.dtype, "device": args.device, "trust_remote_code": args.trust_remote_code,
             "allow_pickle": args.allow_pickle, "base_url": args.base_url,
             "api_key_env": args.api_key_env, "max_concurrency": args.max_concurrency,
             "rpm": args.rpm, "accept_changed_weights": getattr(args, "accept_changed_weights", False)}
    for key, value in flags.items():
        if value not in (None, False):
            if key in options:
                raise ConfigError(f"--{key.replace('_', '-')} and --model-arg {key}: give one")
            options[key] = value
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="vlmeval",
        description="Evaluation and hallucination benchmarks for vision-language models.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="run a suite or tasks on a model; resumes if interrupted",
                         description="Run a suite or tasks on a model. Running the same command "
                                     "again resumes an interrupted run.")
    run.add_argument("--model", required=True,
                     help="a checkpoint directory, openai:NAME for a served model (with "
                          "--base-url), or a name from `vlmeval list adapters` "
                          "(e.g. zoo:scenes-mlp2x_gelu, baseline:oracle)")
    run.add_argument("--adapter", help="force how a checkpoint directory is loaded "
                                       "(default: detected from its files)")
    _model_options(run)
    run.add_argument("--accept-changed-weights", action="store_true",
                     help="our checkpoints: load weights whose sha256 differs from the one "
                          "config.json recorded when they were saved")
    what = run.add_mutually_exclusive_group()  # or neither: the tasks --data TASK=PATH names
    what.add_argument("--suite", help="a suite from `vlmeval list suites` (e.g. hallucination)")
    what.add_argument("--tasks", help="comma-separated tasks or probes (e.g. pope); without "
                                      "--suite or --tasks, the tasks that --data TASK=PATH names")
    run.add_argument("--data", action="append", default=[], metavar="[TASK=]PATH",
                     help="read a task's questions from a local file or folder instead of the "
                          "built-in world: VQAv2 questions+annotations JSON, COCO captions or "
                          "instances JSON, POPE question files, JSONL manifest, parquet or datasets "
                          "save_to_disk folder; TASK= names the task when several run (repeatable)")
    run.add_argument("--images", type=Path, metavar="DIR",
                     help="folder holding the images --data refers to (default: next to the data)")
    run.add_argument("--synonyms", type=Path, metavar="FILE",
                     help="CHAIR's synonym table: one line per category, canonical name first, "
                          "comma-separated (default: the scenes world's)")
    run.add_argument("--circular", action="store_true",
                     help="multiple-choice benchmarks: ask every rotation of the options and "
                          "report circular_accuracy (right in all rotations) beside accuracy")
    run.add_argument("--out", type=Path, help="run directory (default: runs/<model>__<suite>)")
    run.add_argument("--limit", type=_positive_int,
                     help="use at most N samples per task (default: the suite's, else all)")
    run.add_argument("--batch-size", type=_batch_size, metavar="N|auto",
                     help="requests per batch (default: 64 for vlmeval checkpoints, 32 for other "
                          "models); auto: start at 64 and halve whenever a batch runs out of "
                          "memory (run.json records the size found)")
    run.add_argument("--seed", type=_seed, default=0, help="seed for sampling and bootstrap (0)")
    run.add_argument("--policy", default="official", choices=["official", "strict"],
                     help="main parsing policy; results also report the other (official)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace a run directory that holds a different run")
    run.add_argument("-q", "--quiet", action="store_true",
                     help="no progress (bars on a terminal; otherwise a line every 30 s on stderr)")
    run.add_argument("--max-error-rate", type=_rate, default=0.0, metavar="R",
                     help="share of a task's requests that may fail (0): above it the run ends "
                          "`incomplete` with exit code 3; failed requests are retried when the "
                          "same command runs again, and never count as answers")

    rescore = sub.add_parser("rescore", help="recompute a run's results and report from its "
                                             "stored outputs (no model)",
                             description="Score RUN_DIR again from the raw outputs it stores, "
                                         "with the installed parsers and metrics: results.json "
                                         "and report.html are rewritten, nothing else. Needs "
                                         "neither the model nor the source data.")
    rescore.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    rescore.add_argument("--policy", choices=["official", "strict"],
                         help="main parsing policy (default: the run's own)")

    train = sub.add_parser("train", help="train our own VLM on the scenes world",
                           description="Train our own LLaVA-style VLM on the scenes train split: "
                                       "encoder (dense supervision by default, or CLIP-style), "
                                       "LM, align, instruct. Writes a "
                                       "checkpoint directory that `vlmeval run --model DIR` reads.")
    train.add_argument("--connector", default="mlp2x_gelu",
                       help="linear, mlp2x_gelu, resampler or cross_attn (mlp2x_gelu)")
    train.add_argument("--out", type=Path, required=True, help="checkpoint directory to write")
    train.add_argument("--steps", help="steps per stage, e.g. encoder=1500,lm=1000,align=400,"
                                       "instruct=2000 (defaults: the shipped recipe)")
    train.add_argument("--text-mix", type=float, help="share of text-only examples in the "
                                                      "instruct stage (recipe default)")
    train.add_argument("--seed", type=_seed, default=0, help="seed of every stage (0)")
    train.add_argument("--encoder-objective", choices=["dense", "clip"],
                       help="encoder pretraining: dense supervision (default) or CLIP-style "
                            "InfoNCE on captions")
    train.add_argument("--train-images", type=_positive_int,
                       help="train-split scenes in the training pool (recipe default)")
    train.add_argument("--vision-encoder", type=Path, metavar="DIR",
                       help="a local Hugging Face CLIP or SigLIP directory to use as the encoder "
                            "(skips encoder pretraining)")
    train.add_argument("--lm", type=Path, metavar="DIR",
                       help="a local Hugging Face causal-LM directory (with its tokenizer.json) to "
                            "use as the LM (skips LM pretraining; prefix connectors only)")
    train.add_argument("--pool", type=_positive_int,
                       help="average-pool the encoder's patch grid by N x N before the connector "
                            "(recipe default 2; must divide the grid)")
    train.add_argument("--base", type=Path,
                       help="directory for the connector-independent encoder and LM: reused if "
                            "trained there with the same recipe, else trained and saved there")

    doctor = sub.add_parser("doctor", help="check that a model sees the image and batches safely",
                            description="Run a few built-in questions at batch size 1 and N, with "
                                        "swapped and blank images; report agreement, whether the "
                                        "image reaches the model, image tokens and fingerprint. "
                                        "Exit 1 if a check fails.")
    doctor.add_argument("--model", required=True, help="as for `vlmeval run`")
    doctor.add_argument("--adapter", help="force how a checkpoint directory is loaded")
    doctor.add_argument("--n", type=_positive_int, default=8, help="questions (8)")
    _model_options(doctor)

    report = sub.add_parser("report", help="write a run's self-contained HTML report",
                            description="Render RUN_DIR's results and samples as one HTML file "
                                        "(no network needed to view it). Every run also writes "
                                        "RUN_DIR/report.html when it finishes.")
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    report.add_argument("-o", "--out", type=Path, help="output file (default RUN_DIR/report.html)")

    compare = sub.add_parser("compare", help="compare runs side by side in one HTML page",
                             description="One column per run: every shared metric, its delta "
                                         "against the baseline (the first run, or --baseline) "
                                         "and a paired test on the samples the runs share; the "
                                         "samples where the runs disagree.")
    compare.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    compare.add_argument("--baseline", type=Path, metavar="RUN_DIR",
                         help="the run the others are compared against (default: the first)")
    compare.add_argument("-o", "--out", type=Path, default=Path("compare.html"),
                         help="output file (compare.html)")
    compare.add_argument("--csv", type=Path, help="also write every value, delta and p-value as CSV")
    compare.add_argument("--seed", type=_seed, default=0, help="seed of the paired bootstrap (0)")

    gate = sub.add_parser("gate", help="fail (exit 1) when a run regressed against a baseline",
                          description="Check a run's metrics against a baseline run directory or "
                                      "baseline file: absolute floors, allowed drops, and paired "
                                      "significance tests on the shared samples. Exit 0 pass, "
                                      "1 regression, 2 usage or data error. Spec format: see "
                                      "docs/gates.md (default: every task's headline may not "
                                      "drop significantly).")
    gate.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    gate.add_argument("--baseline", type=Path, required=True, metavar="RUN_DIR|FILE",
                      help="a run directory or a file from `vlmeval baseline save`")
    gate.add_argument("--spec", type=Path, metavar="gate.yaml", help="the checks (YAML)")
    gate.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML file")
    gate.add_argument("--markdown", metavar="FILE",
                      help="write a markdown summary (e.g. \"$GITHUB_STEP_SUMMARY\"; an empty "
                           "value, as outside GitHub Actions, writes none)")
    gate.add_argument("--seed", type=_seed, default=0, help="seed of the paired bootstrap (0)")

    baseline = sub.add_parser("baseline", help="save a run as a baseline file for `vlmeval gate`")
    baseline_sub = baseline.add_subparsers(dest="action", required=True, metavar="ACTION")
    save = baseline_sub.add_parser("save", help="metrics and per-sample verdicts of RUN_DIR in one file")
    save.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    save.add_argument("-o", "--out", type=Path, required=True, help="baseline file to write (.json)")

    lst = sub.add_parser("list", help="list adapters, tasks, probes or suites")
    lst.add_argument("what", nargs="?", default="all",
                     choices=["all", "adapters", "tasks", "probes", "suites"])
    return parser


def cmd_run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from vlmeval.errors import ConfigError
    from vlmeval.reports.text import results_table
    from vlmeval.runner import RunConfig, run

    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip()) if args.tasks else ()
    data = {}
    for item in args.data:
        name, _, path = item.rpartition("=")
        data[name.strip()] = Path(path)
    if not tasks and not args.suite:
        tasks = tuple(name for name in data if name)
        if not tasks:
            raise ConfigError("vlmeval run needs --suite, --tasks, or --data TASK=PATH naming the "
                              "task to run (see `vlmeval run --help`)")
    config = RunConfig(model=args.model, suite=args.suite, tasks=tasks, out=args.out,
                       data=data, images=args.images,
                       task_options={**({"synonyms": args.synonyms} if args.synonyms else {}),
                                     **({"circular": True} if args.circular else {})},
                       model_options=model_options(args),
                       limit=args.limit, batch_size=args.batch_size, seed=args.seed,
                       policy=args.policy, overwrite=args.overwrite, adapter=args.adapter,
                       max_error_rate=args.max_error_rate, quiet=args.quiet,
                       argv=("vlmeval", *argv))
    set_threads(args.threads)
    result = run(config)
    if result.results is None:  # a torchrun rank other than 0: rank 0 reports
        return 0
    print(results_table(result.results))
    print(f"\nrun directory: {result.run_dir}\nreport: {result.run_dir / 'report.html'}")
    return _incomplete(result.results)


def _incomplete(results: dict) -> int:
    """EXIT_INCOMPLETE (and a line on stderr per task) when tasks have too many errors."""
    bad = {n: t for n, t in results["tasks"].items() if not t["complete"]}
    for name, t in bad.items():
        print(f"vlmeval: {name}: {t['errors']} of {t['n_requests']} requests failed (above "
              f"--max-error-rate {results['scored']['max_error_rate']}); the run is incomplete. "
              f"Run the same command again to retry them.", file=sys.stderr)
    return EXIT_INCOMPLETE if bad else 0


def cmd_rescore(args: argparse.Namespace) -> int:
    from vlmeval.reports.text import results_table
    from vlmeval.rescore import rescore

    results, notes = rescore(args.run_dir, args.policy)
    print(results_table(results))
    for note in notes:
        print(f"note: {note}")
    print(f"\nrescored: {args.run_dir / 'results.json'}\nreport: {args.run_dir / 'report.html'}")
    return _incomplete(results)


def cmd_compare(args: argparse.Namespace) -> int:
    from vlmeval.reports.compare import write_compare

    print(write_compare(args.run_dirs, args.out, args.baseline, args.csv, args.seed))
    if args.csv:
        print(args.csv)
    return 0


def cmd_gate(args: argparse.Namespace) -> int:
    from vlmeval.gate import evaluate_gate, junit, load_spec, markdown
    from vlmeval.store import load_run, write_atomic

    checks, alpha = load_spec(args.spec)
    run, baseline = load_run(args.run_dir), load_run(args.baseline)
    outcomes = evaluate_gate(run, baseline, checks, alpha, args.seed)
    for outcome in sorted(outcomes, key=lambda o: o.passed):
        print(outcome.line())
    failed = sum(not o.passed for o in outcomes)
    print(f"gate: {'FAILED' if failed else 'passed'}: {len(outcomes) - failed} of "
          f"{len(outcomes)} checks passed")
    if args.markdown:
        write_atomic(Path(args.markdown), markdown(outcomes, run, baseline))
    elif args.markdown == "":
        print("gate: --markdown is empty (is $GITHUB_STEP_SUMMARY unset?): no summary written",
              file=sys.stderr)
    if args.junit:
        write_atomic(args.junit, junit(outcomes))
    return 1 if failed else 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from vlmeval.store import load_run, save_baseline

    save_baseline(load_run(args.run_dir), args.out)
    print(args.out)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from vlmeval.reports.render import write_report

    print(write_report(args.run_dir, args.out))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from vlmeval.vlm.train import parse_steps, recipe_for, train

    # Flags left out keep the recipe's defaults.
    given = {"encoder_objective": args.encoder_objective, "pool": args.pool,
             "vision_encoder": str(args.vision_encoder) if args.vision_encoder else None,
             "lm": str(args.lm) if args.lm else None}
    recipe = recipe_for(args.connector, seed=args.seed, text_mix=args.text_mix,
                        steps=parse_steps(args.steps) if args.steps else {},
                        train_images=args.train_images,
                        **{k: v for k, v in given.items() if v is not None})
    record = train(recipe, args.out, base=args.base)
    val = ", ".join(f"{k} {v:.3f}" for k, v in record["validation"].items())
    print(f"trained {recipe.connector} in {record['total_seconds']:.0f} s "
          f"({record['params']:,} parameters, {record['image_tokens']} image tokens)")
    print(f"held-out first-token accuracy: {val}")
    print(f"checkpoint: {args.out}  (evaluate: vlmeval run --model {args.out} --suite hallucination)")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from vlmeval.adapters import resolve_model
    from vlmeval.doctor import diagnose

    from vlmeval.errors import ConfigError

    if args.n < 2:
        raise ConfigError(f"--n {args.n}: doctor needs at least 2 questions (it swaps their images)")
    set_threads(args.threads)
    adapter = resolve_model(args.model, args.adapter, model_options(args))
    lines, ok = diagnose(adapter, args.n)
    print("\n".join(lines))
    return 0 if ok else 1


def cmd_list(args: argparse.Namespace) -> int:
    from vlmeval.adapters import MODELS, SCHEMES, describe
    from vlmeval.probes import PROBES
    from vlmeval.tasks.base import TASKS
    from vlmeval.tasks.suites import SUITES, describe_suite

    sections = {
        "adapters": [(n, describe(MODELS.get(n))) for n in MODELS]
                    + [(f"{n}:NAME", describe(SCHEMES.get(n))) for n in SCHEMES],
        "tasks": [(n, describe(TASKS.get(n)) + (" [reads --data]" if TASKS.get(n).reads_data else ""))
                  for n in TASKS],
        "probes": [(n, describe(PROBES.get(n)) + (" [reads --data]" if PROBES.get(n).reads_data else ""))
                   for n in PROBES],
        "suites": [(n, describe_suite(n)) for n in SUITES],
    }
    chosen = sections if args.what == "all" else {args.what: sections[args.what]}
    for title, rows in chosen.items():
        print(f"{title}:")
        if not rows:
            print("  (none yet)")
        width = max((len(n) for n, _ in rows), default=0)
        for name, text in rows:
            print(f"  {name:<{width}}  {text}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2), already printed
        return int(e.code or 0)
    from vlmeval.errors import Terminated, Unavailable, UserError

    def terminate(signum, frame):
        raise Terminated()

    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:  # SIGTERM ends a run `interrupted`, as Ctrl-C does
        previous = signal.signal(signal.SIGTERM, terminate)

    try:
        if args.command == "run":
            return cmd_run(args, argv)
        commands = {"rescore": cmd_rescore, "train": cmd_train, "doctor": cmd_doctor, "report": cmd_report,
                    "compare": cmd_compare, "gate": cmd_gate, "baseline": cmd_baseline,
                    "list": cmd_list}
        return commands[args.command](args)
    except UserError as e:
        print(f"vlmeval: error: {e}", file=sys.stderr)
        return 2
    except Unavailable as e:
        print(f"vlmeval: error: {e}", file=sys.stderr)
        return EXIT_INCOMPLETE
    except OSError as e:  # a path that cannot be read or written: unwritable, full, a folder
        where = f"{e.filename}: " if e.filename else ""
        print(f"vlmeval: error: {where}{e.strerror or e}; check the path, its permissions and "
              f"the free space", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print("\nvlmeval: interrupted; everything finished so far is saved. Run the same command "
              "again to resume.", file=sys.stderr)
        return 143 if isinstance(e, Terminated) else 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    raise SystemExit(main())
