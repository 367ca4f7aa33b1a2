"""Session-state keys (widget keys included), one constant per key, prefixed by the owning page."""

from __future__ import annotations

# Test page: the pattern
TEST_PATTERN_FILE = "test.pattern_file"
"""The pattern file uploader; a new file's text is copied into the text area."""
TEST_PATTERN_NOTICE = "test.pattern_notice"
"""Why the last uploaded pattern file could not be read (it is not UTF-8 text)."""
TEST_LOAD_SAMPLE = "test.load_sample"
"""The "Load sample" button."""
TEST_PATTERN_TEXT = "test.pattern_text"
"""The pattern text area: pasted text, or the content of the loaded file or sample."""
TEST_PATTERN_SOURCE = "test.pattern_source"
"""File name the pattern text came from (None once the user edits the text)."""

# Test page: the events
TEST_EVENTS_CHOICE = "test.events_choice"
"""Where the events come from: the sample ticks or an uploaded file."""
TEST_EVENTS_FILE = "test.events_file"
"""The events file uploader."""

# Test page: running and results
TEST_RUN = "test.run"
"""The "Run" button."""
TEST_OUTCOME = "test.outcome"
"""The last successful run (result, downloads, preview), kept so it survives reruns."""
TEST_DOWNLOAD_JSON = "test.download_json"
"""The JSON download button."""
TEST_DOWNLOAD_CSV = "test.download_csv"
"""The CSV download button."""
