"""``python -m metacascade``: the ``metacascade`` command (:func:`metacascade.cli.main`)."""

from metacascade.cli import main

if __name__ == "__main__":  # pragma: no branch
    main()
