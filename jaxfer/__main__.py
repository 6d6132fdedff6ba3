"""`python -m jaxfer`, and the `jaxfer` command: `jaxfer.cli.main` in a process that ends well
after Ctrl-C at any moment, its own modules' loading included (`interrupts.end_process`)."""
import sys

from jaxfer import interrupts


def main() -> int:
  def command() -> int:
    from jaxfer import cli  # pylint: disable=g-import-not-at-top
    return cli.main()
  return interrupts.end_process('jaxfer', command)


if __name__ == '__main__':
  sys.exit(main())
