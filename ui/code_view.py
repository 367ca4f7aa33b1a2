"""The Code page's code: the target picker, generating each target's code, the code with its
download, and the diff between two targets."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import streamlit as st

from cep.codegen import CodegenOptions, GeneratedCode, generate_code
from cep.errors import CepError, UnsupportedFeature
from cep.explain import describe_pattern
from cep.model import Pattern
from ui import state
from ui.widgets import message_markdown

TARGET_LABELS = {
    "sss": "Structured Streaming (sss)",
    "sdp": "Declarative Pipeline (sdp)",
    "sql": "Databricks SQL (sql)",
}
"""The code targets, with their labels."""
MIME_TYPES = {"python": "text/x-python", "sql": "application/sql"}
NO_COMPARISON = "none"


@dataclass(frozen=True)
class Generated:
    """One target's outcome: its code, or why the target cannot express the pattern.

    Attributes:
        target: ``sss``, ``sdp`` or ``sql``.
        code: the generated code (None when it failed).
        unsupported: the `UnsupportedFeature` message (the target cannot express the pattern).
        error: any other `CepError` message (an option or a column name cannot be written).
    """

    target: str
    code: GeneratedCode | None = None
    unsupported: str | None = None
    error: str | None = None


def generate(pattern: Pattern, target: str, options: CodegenOptions) -> Generated:
    """Generate ``target``'s code, with the pattern's English description as its header."""
    try:
        code = generate_code(pattern, target, options, description=describe_pattern(pattern))
    except UnsupportedFeature as e:
        return Generated(target, unsupported=str(e))
    except CepError as e:
        return Generated(target, error=str(e))
    return Generated(target, code=code)


def offered_targets(pattern: Pattern) -> list[str]:
    """The targets to offer: sql only for a match_recognize pattern.

    >>> from cep.model import parse_pattern
    >>> offered_targets(parse_pattern({"kind": "dedup", "name": "d", "fields": ["id"],
    ...                                "window": "1m"}))
    ['sss', 'sdp']
    """
    return ["sss", "sdp", "sql"] if pattern.kind == "match_recognize" else ["sss", "sdp"]


def unified_diff(old: GeneratedCode, new: GeneratedCode) -> str:
    """The unified diff from one target's code to another's, named by their file names.

    >>> from cep.codegen import GeneratedCode
    >>> a = GeneratedCode("sss", "x = 1\\ny = 2\\n", "p_sss.py", "python", "", "")
    >>> b = GeneratedCode("sdp", "x = 1\\ny = 3\\n", "p_sdp.py", "python", "", "")
    >>> print(unified_diff(a, b))
    --- p_sss.py
    +++ p_sdp.py
    @@ -1,2 +1,2 @@
     x = 1
    -y = 2
    +y = 3
    <BLANKLINE>
    """
    lines = difflib.unified_diff(
        old.text.splitlines(keepends=True),
        new.text.splitlines(keepends=True),
        fromfile=old.file_name,
        tofile=new.file_name,
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def render_target_picker(pattern: Pattern) -> str:
    """Draw the target picker (sql only for match_recognize, else say why); return the target."""
    targets = offered_targets(pattern)
    if st.session_state.get(state.CODE_TARGET) not in targets:
        st.session_state[state.CODE_TARGET] = targets[0]
    target = st.segmented_control(
        "Target",
        targets,
        format_func=TARGET_LABELS.__getitem__,
        required=True,
        key=state.CODE_TARGET,
        help="sss: a Databricks notebook running Spark Structured Streaming with "
        "transformWithStateInPandas (DBR 16.2+), deployed as a Job. sdp: a Lakeflow Spark "
        "Declarative Pipelines source, deployed as a Pipeline. sql: a Databricks SQL "
        "MATCH_RECOGNIZE batch query (match_recognize patterns only). sss and sdp run the app's "
        "own matcher, so they find the same matches as the Test page.",
    )
    if "sql" not in targets:
        try:
            generate_code(pattern, "sql")
        except UnsupportedFeature as e:
            st.info(str(e), icon=":material/info:")
        except CepError:
            pass  # the chosen target's own outcome says what is wrong
    return str(target)


def render_code(generated: Generated) -> None:
    """Show the code (highlighted, with a download button), or why there is none."""
    if generated.unsupported is not None:
        st.info(generated.unsupported, icon=":material/info:")
        return
    if generated.error is not None or generated.code is None:
        st.error(
            message_markdown("Could not generate the code", generated.error or "unknown error"),
            icon=":material/error:",
        )
        return
    code = generated.code
    with st.container(horizontal=True, vertical_alignment="center"):
        st.download_button(
            f"Download {code.file_name}",
            data=code.text,
            file_name=code.file_name,
            mime=MIME_TYPES.get(code.language, "text/plain"),
            key=state.CODE_DOWNLOAD,
            icon=":material/download:",
            on_click="ignore",
            help="Save the code as a file: import it into a Databricks workspace as a notebook, "
            "or run the SQL in a SQL warehouse.",
        )
        st.caption(f"{len(code.text.splitlines()):,} lines · SHA-256 {code.sha256[:12]}…")
    st.code(code.text, language=code.language, line_numbers=True, height=520)


def render_diff(current: Generated, others: dict[str, Generated]) -> None:
    """Draw the "Compare with" picker and the unified diff to the chosen target's code."""
    if current.code is None:
        return
    comparable = [t for t, g in others.items() if g.code is not None]
    if not comparable:
        return
    st.subheader("Compare targets", anchor=False)
    options = [NO_COMPARISON, *comparable]
    if st.session_state.get(state.CODE_COMPARE) not in options:
        st.session_state[state.CODE_COMPARE] = comparable[0]
    other = st.selectbox(
        "Compare with",
        options,
        format_func=lambda t: "Nothing" if t == NO_COMPARISON else TARGET_LABELS[t],
        key=state.CODE_COMPARE,
        help="Show how another target's code differs from the code above, as a unified diff "
        "(- lines only above, + lines only in the other target).",
    )
    chosen = others.get(str(other))
    if chosen is None or chosen.code is None:
        return
    diff = unified_diff(current.code, chosen.code)
    st.code(diff or "(no difference)", language="diff", height=420)
