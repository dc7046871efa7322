"""The rugs-expert workflow: one text for the MCP prompt and the Claude Code agent file."""

from __future__ import annotations

import re
from collections.abc import Callable

# Each caller spells a tool its own way (`query_sql` for the prompt, `mcp__rugs__query_sql`
# in the agent file) and may refuse a name its server lacks.
ToolName = Callable[[str], str]


def render_workflow(t: ToolName) -> str:
    """The numbered steps, tools named by `t`."""
    return f"""\
1. **Exact names first.** {t("list_event_types")} is the catalog of every event name the \
store has seen (direction, counts, validation status): map the user's words to real event \
names with it. Then {t("describe_event")} on each event involved: its fields as the data \
shows them (types, how often present, example values, ranges), what the protocol docs say of \
each field and whether docs and data agree (both / documented_only / observed_only), and \
whether the event is verified. Events the docs describe but the captures never showed are \
known from the docs alone: say so. Spell events and field paths in your answer exactly as it \
prints them.
2. **Meaning and documentation.** {t("search_events")} finds schema cards, protocol \
documentation (the spec, the field dictionary, the FAQ), game summaries and notable events; \
`mode: "text"` suits exact event or field names, `detail: "full"` returns a whole chunk when \
a snippet is cut short. {t("search")} looks through events and code context together.
3. **Numbers come from SQL.** Counts, sums, maxima, averages, anything at a given tick: \
{t("query_sql")} with one read-only SELECT (its error messages list the views and what is \
allowed). Prices and money are exact decimals and come back as text; read `notes` and \
`truncated` in the result and aggregate or add LIMIT rather than paging through raw rows. \
For one game, {t("list_games")}, {t("get_game_episode")} and {t("get_tick_features")}. \
Quote the SQL you ran and say when a result was truncated.
4. **Code.** Which module handles an event, why something is built as it is: \
{t("search_code_context")}, then read the file it points to.
5. **Debug notes are reasoning, not ground truth.** {t("search_debug_notes")} returns what \
earlier sessions concluded. Mark anything taken from it as *reasoning (debug note)* in your \
answer, and confirm it with {t("describe_event")} or {t("query_sql")} before relying on it.
6. **Stale or missing index.** When a search says a table is not built or is behind, \
{t("index_status")} shows what is pending and {t("sync_index")} brings one table up to date; \
then search again.
7. **Keep what you learn.** A non-obvious finding goes into {t("add_debug_note")} (topic, \
text, tags), citing the query or event that shows it.
"""


def cited_tools() -> set[str]:
    """Every tool name the workflow cites (tests check the server has each one)."""
    marker = "\x00"
    text = render_workflow(lambda name: f"{marker}{name}{marker}")
    return set(re.findall(f"{marker}([a-z_]+){marker}", text))
