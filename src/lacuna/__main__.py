"""``python -m lacuna``: the same as the ``lacuna`` command."""

from lacuna.cli import main

if __name__ == "__main__":
    main()
