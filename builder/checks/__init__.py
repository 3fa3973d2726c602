"""BuildKit's Dockerfile build checks (`pybuild lint`, and the warnings a build prints).

`lint(dockerfile, build_args)` gives the warnings; `report` renders them as
`docker build --check` does (text) or as BuildKit's lint result (JSON)."""

from builder.checks.config import CHECK_BUILD_ARG, CheckConfig, check_config, parse_check_options
from builder.checks.linter import BaseImage, LintError, LintWarning, lint, violation_message
from builder.checks.rules import RULES, Rule

__all__ = ["BaseImage", "CHECK_BUILD_ARG", "CheckConfig", "LintError", "LintWarning", "RULES",
           "Rule", "check_config", "lint", "parse_check_options", "violation_message"]
