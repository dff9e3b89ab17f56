"""`python -m trajmbrl` runs the CLI."""

from trajmbrl.cli import main

if __name__ == "__main__":
    main()
