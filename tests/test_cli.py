import subprocess
import sys

from greenai.cli.main import main


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_unknown_flag_is_one_line_exit_2():
    proc = subprocess.run(
        [sys.executable, "-m", "greenai", "--no-such-flag"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") <= 1
    assert "Traceback" not in proc.stderr


def test_import_does_not_load_torch():
    code = "import sys, greenai; greenai.__version__; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
