"""`tlcourse`: prefetch the offline assets, check the set-up, run lessons, build exercises."""
import argparse
import sys


def _prefetch(args) -> int:
    from .loaders import prefetch
    prefetch()
    return 0


def _doctor(args) -> int:
    from .doctor import doctor
    return 0 if doctor() else 1


def _run(args) -> int:
    from .runbook import run
    run(args.notebooks)
    return 0


def _exercises(args) -> int:
    from .exercises import generate
    stale = generate(write=not args.check)
    if args.check and stale:
        print(f"exercises/ is out of date for {', '.join(stale)}: run `make exercises`")
        return 1
    print(f"{'checked' if args.check else 'wrote'} exercises; changed: {stale or 'none'}")
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
    ex = sub.add_parser("exercises", help="generate exercises/ from solutions/")
    ex.add_argument("--check", action="store_true", help="only report stale exercises")
    ex.set_defaults(func=_exercises)
    args = parser.parse_args(argv)
    from .assets import AssetError
    try:
        return args.func(args)
    except AssetError as err:  # one clear line for a learner, not a traceback
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
