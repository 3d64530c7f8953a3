"""Run the command line in-process, as a user would from the shell: (exit code, stdout, stderr)."""
from svdstory.cli import main


def run_cli(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err
