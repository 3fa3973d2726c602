"""`pybuild run`'s fast path: the hand-written parser reads docker's run flags as the
typer app does, declines what it does not plainly understand, and a run through it never
imports typer; the init forked from the command cleans up as the spawned one does."""

import os
import subprocess
import sys
import threading

import pytest
import typer.main

from pybuild.commands import run as run_command
from runner.container import Container, run_dir_path
from runner.spec import RunSpec


def test_the_fast_parser_knows_exactly_the_typer_apps_flags():
    command = typer.main.get_command(run_command.app).commands["run"]
    typer_flags = {opt: param.name for param in command.params for opt in param.opts if opt.startswith("-")}
    fast_flags = {flag: name for flag, (name, _) in run_command._FLAGS.items()}
    assert fast_flags == typer_flags


def test_options_end_at_the_image_and_repeat_or_take_the_last_value():
    values = run_command.parse_run_args(["--rm", "-e", "A=1", "--env=B=2", "-u", "x", "--user", "y",
                                         "--pids-limit", "5", "busybox", "sh", "-c", "echo -e"])
    assert (values["image"], values["command"]) == ("busybox", ["sh", "-c", "echo -e"])
    assert (values["env"], values["user"], values["pids_limit"], values["network"]) == (["A=1", "B=2"], "y", 5, "host")


@pytest.mark.parametrize("args", [["--help"], ["-e"], ["--rm"], [],
                                  ["--bogus", "busybox"], ["--pids-limit", "many", "busybox"],
                                  ["--rm=yes", "busybox"], ["-eK=V", "busybox"], ["--", "busybox"]])
def test_what_the_fast_parser_does_not_plainly_understand_goes_to_typer(args):
    assert run_command.parse_run_args(args) is None


def test_a_run_through_the_fast_path_never_imports_typer(pybuild, busybox_image):
    probe = ("import sys; from pybuild.main import main; code = main(['run', '--rm', %r, 'true']);"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'rich', 'click')), code)"
             % busybox_image)
    out = subprocess.run([sys.executable, "-c", probe], env=pybuild.env(), capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[] 0"


def test_usage_errors_still_come_from_typer(pybuild, busybox_image):
    out = pybuild("run", "--bogus", busybox_image, check=False)
    assert out.returncode == 2 and "No such option: --bogus" in out.stderr


def test_a_forked_init_runs_the_container_and_leaves_nothing_behind(layers, tmp_path):
    scratch = tmp_path / "scratch"
    container = Container(RunSpec(layers=layers, argv=["sh", "-c", "echo $$; ls -d /etc/hosts; exit 3"],
                                  scratch=str(scratch)),
                          fork=True, stdout=os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT))
    container.start()
    assert os.path.isdir(run_dir_path(container.id))
    result = container.wait()
    assert (result.exit_code, (tmp_path / "out").read_text()) == (3, "1\n/etc/hosts\n")
    assert os.listdir(scratch) == []
    assert not os.path.exists(run_dir_path(container.id))


def test_a_forked_init_is_refused_while_another_thread_runs(layers):
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        with pytest.raises(RuntimeError, match="other threads"):
            Container(RunSpec(layers=layers, argv=["true"]), fork=True).start()
    finally:
        stop.set()
        thread.join()


FORKING_CALLER = """
import sys
sys.path.insert(0, sys.argv[1])
from runner.container import Container
from runner.spec import RunSpec
c = Container(RunSpec(layers=sys.argv[4:], argv=["sleep", sys.argv[2]], scratch=sys.argv[3]), fork=True)
c.start()
print(c.id, flush=True)
c.wait()
"""


def test_sigkill_of_a_caller_whose_init_is_its_fork_leaves_nothing_behind(layers, tmp_path):
    sys.path.insert(0, os.path.dirname(__file__))
    from test_lifecycle import REPO, _assert_nothing_left, _marker, _processes_with, _wait_for

    marker = _marker()
    scratch = str(tmp_path / "scratch")
    caller = subprocess.Popen([sys.executable, "-c", FORKING_CALLER, REPO, marker, scratch, *layers],
                              stdout=subprocess.PIPE, text=True)
    try:
        container_id = caller.stdout.readline().strip()
        assert _wait_for(lambda: len(_processes_with(marker)) == 1)
    finally:
        caller.kill()
        caller.wait()
    _assert_nothing_left(marker, scratch, container_id)
    assert _wait_for(lambda: os.listdir(scratch) == [])
    assert _wait_for(lambda: not os.path.exists(run_dir_path(container_id)))
