"""The configuration: defaults, then the TOML file, then PYBUILD_REGISTRY_* variables,
then flags; mistakes are one line naming the file or variable and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_server.config import BadConfig, load


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "registry.toml"
    path.write_text(text)
    return path


def test_defaults_without_file_environment_or_flags():
    config = load(None, environ={})
    assert (config.addr, config.root, config.workers, config.shutdown_timeout) == \
        ("127.0.0.1:5000", None, None, 10.0)
    assert not config.tls.enabled and config.log.access == "" and config.gc.interval == 0


def test_file_then_environment_then_flags_override_each_other(tmp_path):
    path = write(tmp_path, 'addr = "127.0.0.1:6000"\nworkers = 3\nroot = "/srv/a"\n'
                           '[gc]\ninterval = 30\ngrace = 5\n[log]\naccess = "/var/log/a"\n'
                           '[auth]\nanonymous_pull = true\n')
    config = load(path, environ={"PYBUILD_REGISTRY_WORKERS": "5", "PYBUILD_REGISTRY_GC_GRACE": "7",
                                 "PYBUILD_REGISTRY_AUTH_MODE": "basic"},
                  addr="127.0.0.1:7000", workers=None, gc_interval=None)
    assert config.addr == "127.0.0.1:7000"  # flag over file
    assert config.workers == 5  # environment over file
    assert config.root == Path("/srv/a")  # file over default
    assert (config.gc.interval, config.gc.grace) == (30.0, 7.0)
    assert config.log.access == "/var/log/a"
    assert config.auth == {"anonymous_pull": True}  # for auth.py, which reads its own variables


def test_tls_self_signed_from_the_environment(tmp_path):
    assert load(None, environ={"PYBUILD_REGISTRY_TLS_SELF_SIGNED": "yes"}).tls.self_signed


@pytest.mark.parametrize("text, message", [
    ("workers = 0\n", "registry.toml: workers = 0: expected int (positive)"),
    ("colour = 1\n", "registry.toml: colour: unknown setting"),
    ("[gc]\ninterval = \"soon\"\n", "registry.toml: gc.interval = 'soon': expected float"),
    ("[tls]\nself_signed = true\ncert = \"a.pem\"\nkey = \"b.pem\"\n", "either a certificate and key or self-signed"),
    ("[tls]\ncert = \"a.pem\"\n", "a certificate needs its key"),
    ("addr = \n", "registry.toml: Invalid value"),
])
def test_mistakes_in_the_file_name_the_file_and_key(tmp_path, text, message):
    with pytest.raises(BadConfig, match=message.replace("(", r"\(").replace(")", r"\)")):
        load(write(tmp_path, text), environ={})


def test_unknown_environment_variable_is_refused():
    with pytest.raises(BadConfig, match="PYBUILD_REGISTRY_WORKRES: unknown setting"):
        load(None, environ={"PYBUILD_REGISTRY_WORKRES": "2"})


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(BadConfig, match="nope.toml: cannot read the configuration"):
        load(tmp_path / "nope.toml", environ={})


@pytest.mark.parametrize("args, message", [
    (["--config", "{tmp}/bad.toml"], "Error: {tmp}/bad.toml: workers = 'many': expected int (positive)"),
    (["--tls-cert", "{tmp}/missing.pem", "--tls-key", "{tmp}/missing.key"],
     "Error: {tmp}/missing.pem: no such file (--tls-cert)"),
    (["--tls-self-signed", "--tls-cert", "{tmp}/a.pem", "--tls-key", "{tmp}/a.key"],
     "Error: TLS: give either a certificate and key or self-signed, not both"),
])
def test_serve_refuses_bad_settings_with_one_line(tmp_path, args, message):
    import peers

    (tmp_path / "bad.toml").write_text('workers = "many"\n')
    result = peers.run([peers.VENV_BIN / "pybuild", "registry", "serve", "--addr", "127.0.0.1:0",
                        "--root", str(tmp_path / "root"), *[a.format(tmp=tmp_path) for a in args]],
                       check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == message.format(tmp=tmp_path)
