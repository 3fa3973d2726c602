"""`import --change` lines applied as dockerd's BuildFromConfig applies them."""

import re

import pytest

from oci.changes import parse_duration
from oci.config import ContainerConfig, HealthConfig, ImageConfig, apply_change, apply_changes
from oci.errors import InvalidChange, UserError


def changed(*lines: str, **start) -> ContainerConfig:
    return apply_changes(ImageConfig(config=ContainerConfig(**start)), list(lines)).config


def test_cmd_exec_form_is_kept_as_given():
    assert changed('CMD ["/bin/sh", "-c", "echo hi"]').cmd == ["/bin/sh", "-c", "echo hi"]


def test_cmd_shell_form_runs_through_bin_sh():
    assert changed("CMD echo  hi   there").cmd == ["/bin/sh", "-c", "echo  hi   there"]


def test_shell_form_uses_the_image_shell():
    assert changed("ENTRYPOINT exec app", shell=["/bin/bash", "-c"]).entrypoint == ["/bin/bash", "-c", "exec app"]


def test_malformed_json_falls_back_to_shell_form():
    assert changed('CMD ["unterminated').cmd == ["/bin/sh", "-c", '["unterminated']


def test_empty_exec_form_gives_an_empty_cmd():
    assert changed("CMD []").cmd == []


def test_entrypoint_resets_an_inherited_cmd():
    assert changed('ENTRYPOINT ["/app"]', cmd=["old"]).cmd is None


def test_entrypoint_keeps_a_cmd_given_in_the_same_import():
    c = changed('CMD ["--help"]', 'ENTRYPOINT ["/app"]')
    assert (c.entrypoint, c.cmd) == (["/app"], ["--help"])


def test_empty_entrypoint_clears_it():
    assert changed("ENTRYPOINT []", entrypoint=["/x"]).entrypoint is None


def test_cmd_clears_args_escaped():
    assert changed('CMD ["a"]', args_escaped=True).args_escaped is None


def test_env_new_and_legacy_forms():
    c = changed('ENV A=1 B="two words" C=\\$HOME', "ENV D the rest   of line")
    assert c.env == ["A=1", "B=two words", "C=$HOME", "D=the rest   of line"]


def test_env_replaces_in_place_and_expands_from_earlier_lines():
    c = changed("ENV PATH=/opt/bin:$PATH", "ENV X=${PATH}-${UNSET:-dflt}", env=["PATH=/bin", "Y=2"])
    assert c.env == ["PATH=/opt/bin:/bin", "Y=2", "X=/opt/bin:/bin-dflt"]


def test_env_sees_values_from_before_its_own_line():
    assert changed("ENV A=new B=$A", env=["A=old"]).env == ["A=new", "B=old"]


@pytest.mark.parametrize(
    "word, value",
    [
        ("'$A'", "$A"),
        ('"$A"', "x y"),
        ("${A:+set}", "set"),
        ("${E:+set}", ""),
        ("${E+set}", "set"),
        ("${E:-dflt}", "dflt"),
        ("${E-dflt}", ""),
        ("${U:-${A}}", "x y"),
        ('"a\\"b"', 'a"b'),
        ("a\\ b", "a b"),
        ("$", "$"),
        ("cost$", "cost$"),
        ("$$", ""),
        ("$1x", "x"),
        ("$_A", ""),
        ("${A}b", "x yb"),
    ],
)
def test_variable_expansion(word, value):
    assert changed(f"LABEL k={word}", env=["A=x y", "E="]).labels == {"k": value}


@pytest.mark.parametrize(
    "word, message",
    [
        ("${U:?must be set}", "U: must be set"),
        ("${U?}", "U: is not allowed to be unset"),
        ("${E:?}", "E: is not allowed to be empty"),
        ("${}", "bad substitution"),
        ("${A", "missing '}'"),
        ("${A:-x", "missing '}'"),
        ("${A#x}", "unsupported modifier (#)"),
        ("${A:=x}", "unsupported modifier (=)"),
        ("${A=x}", "missing ':' in substitution"),
    ],
)
def test_bad_substitutions_are_errors(word, message):
    with pytest.raises(InvalidChange, match=re.escape(message)):
        changed(f"USER {word}", env=["E="])


def test_label_keeps_existing_labels():
    c = changed('LABEL "com.example.a"="1" b=2', "LABEL legacy value with spaces", labels={"old": "x"})
    assert c.labels == {"old": "x", "com.example.a": "1", "b": "2", "legacy": "value with spaces"}


def test_expose_ports_ranges_and_protocols():
    c = changed("EXPOSE 80 53/UDP 8000-8002/tcp $P", env=["P=9000 9001/sctp"])
    assert sorted(c.exposed_ports) == ["53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp", "9000/tcp", "9001/sctp"]


def test_expose_accepts_host_parts_but_keeps_container_ports():
    assert sorted(changed("EXPOSE 127.0.0.1:8080:80 [::1]:53:53/udp").exposed_ports) == ["53/udp", "80/tcp"]


def test_volume_json_and_words():
    c = changed('VOLUME ["/a b", "/c"]', "VOLUME /d $V", env=["V=/e"])
    assert sorted(c.volumes) == ["/a b", "/c", "/d", "/e"]


def test_workdir_relative_joins_and_cleans():
    assert changed("WORKDIR /srv", "WORKDIR app/../web/./x").working_dir == "/srv/web/x"
    assert changed("WORKDIR //a//b/..").working_dir == "/a"
    assert changed("WORKDIR rel").working_dir == "/rel"


def test_user_and_stopsignal():
    c = changed("USER $U:grp", "STOPSIGNAL SIGRTMIN+3", env=["U=app"])
    assert (c.user, c.stop_signal) == ("app:grp", "SIGRTMIN+3")
    assert changed("STOPSIGNAL 9").stop_signal == "9"
    assert changed("STOPSIGNAL term").stop_signal == "term"


def test_onbuild_keeps_the_trigger_text():
    c = changed("ONBUILD RUN echo $HOME", "onbuild  COPY . /src", on_build=["ADD x y"])
    assert c.on_build == ["ADD x y", "RUN echo $HOME", "COPY . /src"]


def test_healthcheck_forms_and_durations():
    c = changed("HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --start-interval=1s "
                "--retries=4 CMD curl -f http://localhost/ || exit 1")
    assert c.healthcheck == HealthConfig(
        test=["CMD-SHELL", "curl -f http://localhost/ || exit 1"], interval=90_000_000_000,
        timeout=500_000_000, start_period=2_000_000_000, start_interval=1_000_000_000, retries=4,
    )
    assert changed('HEALTHCHECK CMD ["/check", "-v"]').healthcheck == HealthConfig(test=["CMD", "/check", "-v"])
    assert changed("HEALTHCHECK NONE").healthcheck == HealthConfig(test=["NONE"])


def test_zero_durations_mean_the_default():
    # Current BuildKit; docker 20.10 refused an explicit 0.
    assert changed("HEALTHCHECK --interval=0 --timeout=0s CMD true").healthcheck == HealthConfig(
        test=["CMD-SHELL", "true"]
    )


def test_instructions_are_case_insensitive_and_lines_continue():
    c = changed("cmd echo \\\n  hi", "# a comment", "", "Env A=1")
    assert c.cmd == ["/bin/sh", "-c", "echo   hi"]
    assert c.env == ["A=1"]


def test_escape_directive_changes_the_escape_character():
    assert changed("# escape=`", "ENV A=a`$b").env == ["A=a$b"]


def test_apply_change_on_a_container_config_returns_a_new_one():
    original = ContainerConfig(env=["A=1"])
    result = apply_change(original, "ENV B=2")
    assert isinstance(result, ContainerConfig)
    assert result.env == ["A=1", "B=2"]
    assert original.env == ["A=1"]


def test_the_input_config_is_not_modified():
    image = ImageConfig(config=ContainerConfig(labels={"a": "1"}))
    apply_change(image, "LABEL b=2")
    assert image.config.labels == {"a": "1"}


@pytest.mark.parametrize(
    "line, message",
    [
        ("RUN echo", "run is not a valid change command"),
        ("FROM scratch", "from is not a valid change command"),
        ("SHELL [\"/bin/bash\"]", "shell is not a valid change command"),
        ("BOGUS x", "bogus is not a valid change command"),
        ("CMD [1, 2]", "arrays must be comprised of strings only"),
        ("CMD --flag x", "Unknown flag: flag"),
        ("ENV", "ENV requires at least one argument"),
        ("ENV ONLYKEY", "ENV must have two arguments"),
        ("ENV a=1 b", 'can\'t find = in "b"'),
        ("ENV =x", "ENV names can not be blank"),
        ("LABEL", "LABEL requires at least one argument"),
        ("EXPOSE", "EXPOSE requires at least one argument"),
        ("EXPOSE http", "invalid containerPort: http"),
        ("EXPOSE 80/icmp", "invalid proto: icmp"),
        ("EXPOSE 70000", "invalid containerPort: 70000"),
        ("EXPOSE 90-80", "invalid containerPort: 90-80"),
        ("EXPOSE nothost:1:80", "invalid IP address: nothost"),
        ("VOLUME", "VOLUME requires at least one argument"),
        ('VOLUME [""]', "VOLUME specified can not be an empty string"),
        ("VOLUME $EMPTY", "VOLUME specified can not be an empty string"),
        ("USER", "USER requires exactly one argument"),
        ("WORKDIR", "WORKDIR requires exactly one argument"),
        ("STOPSIGNAL SIGFOO", "Invalid signal: SIGFOO"),
        ("STOPSIGNAL 0", "Invalid signal: 0"),
        ("ONBUILD", "ONBUILD requires at least one argument"),
        ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD"),
        ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
        ("ONBUILD MAINTAINER me", "MAINTAINER isn't allowed as an ONBUILD trigger"),
        ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
        ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
        ("HEALTHCHECK PING x", 'Unknown type "PING" in HEALTHCHECK (try CMD)'),
        ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK --interval=10 CMD x", 'time: invalid duration "10"'),
        ("HEALTHCHECK --interval=1us CMD x", 'Interval "interval" cannot be less than 1ms'),
        ("HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative (-1)"),
        ("HEALTHCHECK --retries=x CMD x", 'parsing "x": invalid syntax'),
        ("HEALTHCHECK --timeout CMD x", "Missing a value on flag: timeout"),
        ("HEALTHCHECK --bogus=1 CMD x", "Unknown flag: bogus"),
        ("HEALTHCHECK --retries=1 --retries=2 CMD x", "Duplicate flag specified: retries"),
        ("LABEL a='unterminated", "matching single-quote"),
        ('LABEL a="unterminated', "matching double-quote"),
    ],
)
def test_refused_changes_say_why_in_one_line(line, message):
    with pytest.raises(InvalidChange) as info:
        changed(line)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, UserError)


def test_nothing_applies_when_a_later_line_is_invalid():
    with pytest.raises(InvalidChange, match="run is not a valid change command"):
        changed("ENV A=1", "RUN x")


@pytest.mark.parametrize(
    "text, ns",
    [
        ("0", 0),
        ("1ns", 1),
        ("1.5s", 1_500_000_000),
        ("1h2m3s", 3_723_000_000_000),
        ("300ms", 300_000_000),
        ("2us", 2_000),
        ("2µs", 2_000),
        (".5m", 30_000_000_000),
        ("-1s", -1_000_000_000),
    ],
)
def test_durations_parse_like_go(text, ns):
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text", ["", "1", "s", "1x", "1s2", ".s", "1 s"])
def test_bad_durations_are_refused(text):
    with pytest.raises(Exception, match="invalid duration"):
        parse_duration(text)
