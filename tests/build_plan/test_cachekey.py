"""builder.cachekey: keys from inputs, and one-line explanations of misses."""

from builder.cachekey import CacheRecord, explain_miss, step_key


def run_inputs(**changes):
    inputs = {"op": "RUN", "command": ["/bin/sh", "-c", "make"], "env": ["PATH=/bin", "VERSION=1"],
              "args": [["VERSION", "1"]], "user": "", "workdir": "/src"}
    return {**inputs, **changes}


def copy_inputs(entries):
    return {"op": "COPY", "sources": ["."], "dest": "/app/", "content": str(sorted(entries.items())),
            "entries": entries}


def test_key_depends_on_parent_and_inputs_but_not_on_explanation_only_entries():
    a = step_key("sha256:p", copy_inputs({"a": "1"}))
    assert a == step_key("sha256:p", {**copy_inputs({"a": "1"}), "entries": {"other": "x"}})
    assert a != step_key("sha256:q", copy_inputs({"a": "1"}))
    assert a != step_key("sha256:p", copy_inputs({"a": "2"}))


def record(inputs, parent="sha256:p"):
    return CacheRecord(step_key(parent, inputs), parent, inputs)


def test_changed_file_is_named():
    old = record(copy_inputs({"": "d", "src/main.py": "1", "src/util.py": "1"}))
    new = copy_inputs({"": "d", "src/main.py": "2", "src/util.py": "1"})
    assert explain_miss("COPY . /app", old, new, "sha256:p") == "COPY . /app: src/main.py changed"


def test_added_removed_and_many_files():
    old = record(copy_inputs({"a": "1", "b": "1", "c": "1", "gone": "1"}))
    new = copy_inputs({"a": "2", "b": "2", "c": "2", "new": "1"})
    assert explain_miss("COPY . /app", old, new, "sha256:p") == \
        "COPY . /app: a and 2 more changed; new added; gone removed"


def test_changed_arg_is_named_before_its_env_effect():
    old = record(run_inputs())
    new = run_inputs(args=[["VERSION", "2"]], env=["PATH=/bin", "VERSION=2"])
    assert explain_miss("RUN make", old, new, "sha256:p") == "RUN make: ARG VERSION changed"


def test_changed_env_command_parent_and_first_build():
    old = record(run_inputs())
    assert explain_miss("RUN make", old, run_inputs(env=["PATH=/usr/bin", "VERSION=1"]), "sha256:p") == \
        "RUN make: ENV PATH changed"
    assert explain_miss("RUN make", old, run_inputs(command=["make", "all"]), "sha256:p") == \
        "RUN make: command changed"
    assert explain_miss("RUN make", old, run_inputs(), "sha256:other") == "RUN make: previous step changed"
    assert explain_miss("RUN make", None, run_inputs(), None) == "RUN make: not built before"


def test_record_round_trips_through_json():
    r = record(copy_inputs({"a": "1"}))
    assert CacheRecord.from_json(r.to_json()) == r


def test_a_changed_stage_or_image_source_is_named_as_such():
    old = record({"op": "COPY", "sources": ["/out"], "content": "stage:sha256:a"})
    new = {"op": "COPY", "sources": ["/out"], "content": "stage:sha256:b"}
    assert explain_miss("COPY --from=build /out /out", old, new, "sha256:p") == \
        "COPY --from=build /out /out: source changed"
