"""Command-line parsing shared by every `hub` sub-command: one-line usage errors and checked numbers."""
import argparse


class Parser(argparse.ArgumentParser):
    """Usage errors in one line (the full usage is one --help away)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def positive_int(text):
    return _bounded_int(text, 1)


def non_negative_int(text):
    return _bounded_int(text, 0)


def port_number(text):
    port = _bounded_int(text, 1)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1-65535)")
    return port


def _bounded_int(text, low):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"{value} is below {low}")
    return value
