"""How much text the server will analyse: LibCST parses ~3k lines/s here and holds a
gigabyte per MB of source, so an editor must not pay for a generated 10 MB file."""

#: Above this size a file is checked on open and save only, not on every keystroke.
LIVE_LINT_MAX_CHARS = 200_000
#: Above this size a file is not parsed at all (neither checked nor indexed).
CHECK_MAX_CHARS = 500_000
