"""`python -m bioner_mtl <command> ...`, the same as the console command `bioner-mtl`."""

from bioner_mtl.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
