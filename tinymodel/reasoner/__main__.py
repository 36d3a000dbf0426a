"""``python -m tinymodel.reasoner {train,verify,benchmark}``."""

from tinymodel.reasoner.cli import main

if __name__ == "__main__":
    main()
