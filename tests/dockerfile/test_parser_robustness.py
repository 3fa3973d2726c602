"""Whatever the text, the parser either returns a syntax tree or raises its own
DockerfileError: never a lark exception or another internal error."""

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from builder.errors import DockerfileError
from builder.parser import parse

FRAGMENTS = [
    "FROM", "from", "RUN", "CMD", "COPY", "ADD", "ENV", "ARG", "LABEL", "ONBUILD",
    "HEALTHCHECK", "SHELL", "EXPOSE", "VOLUME", "WORKDIR", "USER", "STOPSIGNAL",
    "MAINTAINER", "ENTRYPOINT", "NONE", "AS", " ", "\t", "\n", "\r\n", "\\", "`", "\\\n",
    "#", "# escape=`\n", "# syntax=x\n", "--", "--mount=", "--from=", "--link", "--chmod=",
    "--interval=", "type=cache", ",", "=", "\"", "'", "[", "]", "[\"a\"]", "[1]", "<<",
    "<<EOF", "<<-EOF", "3<<'E'", "EOF", "E", "\t", "$x", "${x:-y}", "a", "0", "\ufeff",
    "\u00a0", "\x00", "é",
]


def check(text: str) -> None:
    try:
        parse(text)
    except DockerfileError as exc:
        assert str(exc).startswith("Dockerfile")
        exc.render()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_arbitrary_text_parses_or_raises_dockerfile_error(text: str):
    check(text)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))
@example("\\")  # a lone continuation: one empty logical line
def test_dockerfile_like_text_parses_or_raises_dockerfile_error(text: str):
    check("FROM a\n" + text)
    check(text)
