"""The build checks BuildKit runs on a Dockerfile, with its names, descriptions, URLs and
message texts (frontend/dockerfile/linter/ruleset.go), so that a warning here reads
exactly like the one `docker build --check` prints."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

__all__ = ["Rule", "RULES", "rule_url", "go_quote"]


def _kebab(name: str) -> str:
    # "JSONArgsRecommended" -> "json-args-recommended": an acronym run stays one word.
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name).lower()


def rule_url(name: str) -> str:
    return f"https://docs.docker.com/go/dockerfile/rule/{_kebab(name)}/"


@dataclass(frozen=True)
class Rule:
    name: str
    description: str

    @property
    def url(self) -> str:
        return rule_url(self.name)


def go_quote(text: str) -> str:
    """Go's %q for the names these messages quote (JSON string syntax is the same for
    printable text)."""
    return json.dumps(text, ensure_ascii=False)


_RULES = (
    Rule("StageNameCasing", "Stage names should be lowercase"),
    Rule("FromAsCasing", "The 'as' keyword should match the case of the 'from' keyword"),
    Rule("NoEmptyContinuation", "Empty continuation lines will become errors in a future release"),
    Rule("ConsistentInstructionCasing",
         "All commands within the Dockerfile should use the same casing (either upper or lower)"),
    Rule("DuplicateStageName", "Stage names should be unique"),
    Rule("ReservedStageName", "Reserved words should not be used as stage names"),
    Rule("JSONArgsRecommended",
         "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related "
         "to OS signals"),
    Rule("MaintainerDeprecated",
         "The MAINTAINER instruction is deprecated, use a label instead to define an image author"),
    Rule("UndefinedArgInFrom", "FROM command must use declared ARGs"),
    Rule("WorkdirRelativePath",
         "Relative workdir without an absolute workdir declared within the build can have "
         "unexpected results if the base image changes"),
    Rule("UndefinedVar", "Variables should be defined before their use"),
    Rule("MultipleInstructionsDisallowed",
         "Multiple instructions of the same type should not be used in the same stage"),
    Rule("LegacyKeyValueFormat", "Legacy key/value format with whitespace separator should not be used"),
    Rule("SecretsUsedInArgOrEnv", "Sensitive data should not be used in the ARG or ENV commands"),
    Rule("InvalidDefaultArgInFrom",
         "Default value for global ARG results in an empty or invalid base image name"),
    Rule("RedundantTargetPlatform",
         "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the "
         "default behavior"),
    Rule("FromPlatformFlagConstDisallowed", "FROM --platform flag should not use a constant value"),
)

RULES: dict[str, Rule] = {rule.name: rule for rule in _RULES}


# The message of each rule, as BuildKit formats it.

def stage_name_casing(stage_name: str) -> str:
    return f"Stage name '{stage_name}' should be lowercase"


def from_as_casing(from_keyword: str, as_keyword: str) -> str:
    return f"'{as_keyword}' and '{from_keyword}' keywords' casing do not match"


def no_empty_continuation() -> str:
    return "Empty continuation line"


def consistent_instruction_casing(keyword: str, casing: str) -> str:
    return f"Command '{keyword}' should match the case of the command majority ({casing})"


def duplicate_stage_name(stage_name: str) -> str:
    return f"Duplicate stage name {go_quote(stage_name)}, stage names should be unique"


def reserved_stage_name(stage_name: str) -> str:
    return f"Stage name should not use the same name as reserved stage {go_quote(stage_name)}"


def json_args_recommended(keyword: str) -> str:
    return (f"JSON arguments recommended for {keyword} to prevent unintended behavior related "
            "to OS signals")


def maintainer_deprecated() -> str:
    return "Maintainer instruction is deprecated in favor of using label"


def undefined_arg_in_from(name: str, suggestion: str) -> str:
    out = f"FROM argument '{name}' is not declared"
    return out + (f" (did you mean {suggestion}?)" if suggestion else "")


def workdir_relative_path(workdir: str) -> str:
    return f"Relative workdir {go_quote(workdir)} can have unexpected results if the base image changes"


def undefined_var(name: str, suggestion: str) -> str:
    out = f"Usage of undefined variable '${name}'"
    return out + (f" (did you mean ${suggestion}?)" if suggestion else "")


def multiple_instructions_disallowed(keyword: str) -> str:
    return (f"Multiple {keyword} instructions should not be used in the same stage because only "
            "the last one will be used")


def legacy_key_value_format(keyword: str) -> str:
    return f'"{keyword} key=value" should be used instead of legacy "{keyword} key value" format'


def secrets_used_in_arg_or_env(instruction: str, key: str) -> str:
    return f"Do not use ARG or ENV instructions for sensitive data ({instruction} {go_quote(key)})"


def invalid_default_arg_in_from(base_name: str) -> str:
    return f"Default value for ARG {base_name} results in empty or invalid base image name"


def redundant_target_platform(platform: str) -> str:
    return (f"Setting platform to predefined {platform} in FROM is redundant as this is the "
            "default behavior")


def from_platform_flag_const_disallowed(platform: str) -> str:
    return f"FROM --platform flag should not use constant value {go_quote(platform)}"
