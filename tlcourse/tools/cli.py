"""`tlcourse`: prefetch the offline assets, check the set-up, run lessons, build exercises."""
import argparse
import os
import sys


def _prefetch(args) -> int:
    from ..engine.loaders import prefetch
    prefetch()
    return 0


def _doctor(args) -> int:
    from .doctor import doctor
    return 0 if doctor() else 1


def _run(args) -> int:
    from .runbook import Interrupted, run
    try:
        run(args.notebooks)
    except Interrupted as stopped:
        print(f"interrupted: {stopped} left unchanged", flush=True)
        # Exit now: the kernel is killed, and a normal exit would first join threads jupyter_client may still
        # have blocked on it (a kernel still starting kills itself when this process, its parent, is gone).
        os._exit(130)  # 128 + SIGINT, as a shell reports Ctrl-C
    return 0


def _exercises(args) -> int:
    from .colab import stamp_all
    from .exercises import generate
    stale = stamp_all(write=not args.check) + generate(write=not args.check)
    if args.check and stale:
        print(f"notebooks or exercises out of date: {', '.join(stale)}: run `make exercises`")
        return 1
    print(f"{'checked' if args.check else 'wrote'} exercises; changed: {stale or 'none'}")
    return 0


def _bundle(args) -> int:
    from .bundle import check_or_explain, make_bundle
    if args.check:
        check_or_explain(args.dir)
        print(f"{args.dir}: every file matches its SHA256SUMS")
    else:
        make_bundle(args.dir)
    return 0


def _bench(args) -> int:
    if args.what == "precision":
        from .bench import bench_precision
        bench_precision(repeats=args.repeats)
        return 0
    if args.what == "llm":
        from .bench_llm import bench_llm
        bench_llm(repeats=args.repeats)
        return 0
    from .bench import bench_course_model
    report = bench_course_model(args.steps, args.batch_size, args.max_length, args.repeats,
                                args.gpu, args.out, args.model)
    if report["ratio"] < args.min_ratio:
        print(f"tlcourse / Trainer = {report['ratio']:.2f}, below {args.min_ratio}")
        return 1
    return 0


def _results(args) -> int:
    from ..engine.config import RESULTS, get_profile
    from ..report.tables import markdown, method_table, update_readme
    if args.curves:
        return _curves(args, RESULTS / (args.profile or get_profile().name))
    if args.run:
        from ..lessons import run_experiments
        run_experiments(skip_existing=not args.rerun)
    folder = RESULTS / (args.profile or get_profile().name)
    table = markdown(method_table(folder))
    if args.readme:
        from ..report.claims import claims_table
        from ..lessons import lesson_tables
        from ..report.tables import course_map, lesson_times
        update_readme(table, args.profile or get_profile().name)
        update_readme(markdown(course_map()), "course-map")
        update_readme(markdown(claims_table(RESULTS / "cpu")), "claims")
        update_readme(markdown(lesson_times("cpu")), "lesson-times", "WORKSHOP.md")
        if (RESULTS / "cpu-bf16").exists():
            from ..report.tables import precision_table
            update_readme(markdown(precision_table(RESULTS / "cpu-fp32", RESULTS / "cpu-bf16")), "precision")
        for section, lesson_table in lesson_tables().items():
            update_readme(markdown(lesson_table(RESULTS / "cpu")), section)
        from ..report.tables import levers_table, profile_table, speed_table
        update_readme(markdown(speed_table(RESULTS / "bench")), "speed")
        update_readme(markdown(levers_table(RESULTS / "bench")) + "\n\n" + markdown(profile_table(RESULTS / "bench")),
                      "levers")
    print(table)
    return 0


def _curves(args, folder) -> int:
    from ..lessons.curves import curve_summary, curve_table, run_curves
    from ..report.tables import markdown, update_readme
    if args.run:
        run_curves(skip_existing=not args.rerun)
    table = markdown(curve_summary(curve_table(folder)))
    if args.readme:
        update_readme(table, "curves")
    print(table)
    return 0


def _train(args) -> int:
    import json
    from ..experiments.method_grid import from_file, run
    record = run(from_file(args.config), out_dir=args.out)
    print(json.dumps({k: record.get(k) for k in ("method", "seed", "metrics", "wall_time_s")}))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tlcourse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prefetch", help="fetch, verify and prepare every offline asset").set_defaults(
        func=_prefetch)
    sub.add_parser("doctor", help="versions, device, profile and each asset's state").set_defaults(
        func=_doctor)
    run = sub.add_parser("run", help="execute lesson notebooks in place (TLCOURSE_PROFILE)")
    run.add_argument("notebooks", nargs="+")
    run.set_defaults(func=_run)
    ex = sub.add_parser("exercises", help="stamp the Colab cell into every lesson; generate exercises/ from solutions/")
    ex.add_argument("--check", action="store_true", help="only report stale exercises")
    ex.set_defaults(func=_exercises)
    bundle = sub.add_parser("bundle", help="one folder (wheels, assets, source) to set the course up with no network")
    bundle.add_argument("dir", nargs="?", default="bundle", help="where to write it (default: bundle/)")
    bundle.add_argument("--check", action="store_true", help="only check a copied bundle against its SHA256SUMS")
    bundle.set_defaults(func=_bundle)
    bench = sub.add_parser("bench", help="benchmarks: `tlcourse bench trainer|precision|llm`")
    bench.add_argument("what", choices=["trainer", "precision", "llm"],
                       help="trainer: tlcourse.fit vs transformers.Trainer; precision: bf16 vs fp32 throughput; "
                            "llm: a SmolLM2 LoRA step against the matmul peak, lever by lever, and its profile")
    bench.add_argument("--steps", type=int, default=30)
    bench.add_argument("--batch-size", type=int, default=16)
    bench.add_argument("--max-length", type=int, default=64)
    bench.add_argument("--repeats", type=int, default=3)
    bench.add_argument("--gpu", action="store_true", help="also report MFU and peak GPU memory")
    bench.add_argument("--model", default="minilm-l6", help="course model to fine-tune (e.g. smollm2-135m)")
    bench.add_argument("--min-ratio", type=float, default=1.0, help="fail below this ratio")
    bench.add_argument("--out", default="results/bench/bench_trainer.json")
    bench.set_defaults(func=_bench)
    train = sub.add_parser("train", help="run one experiment from a TOML/JSON file of its fields; "
                                         "works under `accelerate launch --num_processes N`")
    train.add_argument("config")
    train.add_argument("--out", help="result folder (default results/<profile>/)")
    train.set_defaults(func=_train)
    res = sub.add_parser("results", help="run the method grid and/or print its table")
    res.add_argument("--run", action="store_true", help="run every lesson's experiments in the profile (the curves: --curves --run)")
    res.add_argument("--rerun", action="store_true", help="with --run: also redo existing files")
    res.add_argument("--readme", action="store_true", help="write the table into README.md")
    res.add_argument("--profile", help="which results/<profile>/ to read (default: active)")
    res.add_argument("--curves", action="store_true", help="the learning curves (lesson 09) instead: "
                     "with --run, every size x method x seed; prints method x size")
    res.set_defaults(func=_results)
    args = parser.parse_args(argv)
    from ..engine.assets import AssetError
    try:
        return args.func(args)
    except AssetError as err:  # one clear line for a learner, not a traceback
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
