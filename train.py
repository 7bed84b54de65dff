"""Command line for one training run: `python train.py --num_epochs 100 --dataset cifar10 --exp_name R18_normal [--algo yes]`.

Every flag is a field of lib.TrainConfig (same names, same defaults); `python train.py --help` lists them.
Under torchrun, each process runs this same command (see README: multi-GPU).
"""
import argparse
import json
import os
import sys
import typing

from lib.training.config import HELP, config_fields
from lib.errors import UserError


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for name, default, kind in config_fields():
        if name == "extra":
            continue
        if isinstance(default, bool):
            parser.add_argument(f"--{name}", action="store_true", help=HELP.get(name))
        else:
            kind = type(default) if default is not None else next(t for t in typing.get_args(kind) if t is not type(None))
            parser.add_argument(f"--{name}", type=kind, default=default, help=HELP.get(name))
    return parser


def interrupted(args):
    """What to do after Ctrl-C: resume from the run's checkpoint if it has one, else start again."""
    from lib.training.config import make_config
    from lib.training.rundir import FINISHED, NO_CHECKPOINT, RESUMABLE, run_progress

    folder = os.path.join(args["out_dir"], make_config(**args).resolved_exp_name())
    progress = run_progress(folder)
    if progress == FINISHED:  # the run had finished (or, under --overwrite, its predecessor was not yet removed)
        return f"interrupted; {folder} holds a finished run (summary.json): pass --overwrite to train it again"
    if progress == RESUMABLE:
        return f"interrupted; {folder} keeps its last checkpoint: continue with the same command plus --resume"
    if progress == NO_CHECKPOINT:  # it had started recording: only --overwrite replaces it
        return ("interrupted before the run's first checkpoint, so there is nothing to resume: run the same command "
                "plus --overwrite to start it again")
    return "interrupted before the run's first checkpoint, so there is nothing to resume: run the same command again"


def main(argv=None):
    args = vars(build_parser().parse_args(argv))
    try:
        from lib.training.loop import train

        summary = train(**args)
    except UserError as exc:
        if args.get("debug"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted(args), file=sys.stderr)
        return 130
    keys = ("dataset", "algo", "test_acc", "val_acc", "train_time_s", "epochs", "final_width", "final_resolution")
    print(json.dumps({k: summary.get(k) for k in keys}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
