"""`torchrun` (python -m torch.distributed.run), with one compatibility fix for Debian's torch 1.13 on Python 3.11.

    python3 -m llama_nas_trainer.launch --standalone --nproc_per_node=2 -m llama_nas_trainer.train --config C --out D

The arguments are torchrun's. torch 1.13's elastic launcher parses --redirects/--tee ("0" by default) by
iterating its `Std` IntFlag, and Python 3.11 no longer yields the zero and composite members when iterating a
flag, so every launch fails with "'NoneType' object has no attribute 'get'". When (and only when) this torch
shows that fault, Std.from_str is replaced by one that builds the members by value; torch 2.x is left alone.
"""

from __future__ import annotations

import re
import sys
from typing import Dict, List, Optional, Union


def std_parser_is_broken() -> bool:
    from torch.distributed.elastic.multiprocessing.api import Std

    return Std.from_str("0") is not Std.NONE


def patch_std_parser() -> None:
    from torch.distributed.elastic.multiprocessing import api

    Std = api.Std

    def from_str(cls, vm: str) -> Union["api.Std", Dict[int, "api.Std"]]:
        if re.fullmatch(r"[0123]", vm):
            return cls(int(vm))
        if re.fullmatch(r"(\d+:[0123],)*(\d+:[0123])", vm):
            return {int(i): cls(int(v)) for i, v in (m.split(":") for m in vm.split(","))}
        raise ValueError(f"{vm} does not match: <{api._VALUE_REGEX}> or <{api._MAPPING_REGEX}>")

    Std.from_str = classmethod(from_str)


def die_with_parent() -> None:
    """SIGTERM to this launcher when the process that started it dies (a killed worker): torchrun then stops
    its ranks, which checkpoint, instead of training on as orphans. The ranks do the same for the launcher."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(argv: Optional[List[str]] = None) -> None:
    die_with_parent()
    if std_parser_is_broken():
        patch_std_parser()
    from torch.distributed.run import main as torchrun_main

    torchrun_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
