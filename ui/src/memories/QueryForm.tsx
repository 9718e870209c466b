// The filter and the search box above the memories table.
import { useState } from "react";
import { SEARCH_MODES, type MemoryQuery } from "./query";

interface Props {
  query: MemoryQuery;
  onSubmit: (query: MemoryQuery) => void;
}

export function QueryForm({ query, onSubmit }: Props) {
  const [draft, setDraft] = useState(query);
  return (
    <form
      className="query-form"
      role="search"
      aria-label="Filter and search memories"
      onSubmit={(e) => {
        e.preventDefault();
        onSubmit({ ...draft, filter: draft.filter.trim(), search: draft.search.trim() });
      }}
    >
      <div className="field wide">
        <label htmlFor="memory-filter">Filter</label>
        <input
          id="memory-filter"
          value={draft.filter}
          onChange={(e) => setDraft({ ...draft, filter: e.target.value })}
          placeholder='categories:"travel" AND metadata.source = "chat"'
          aria-describedby="filter-help"
        />
        <small id="filter-help">
          AIP-160: <code>agent_id = "x"</code>, <code>categories:"home"</code>,{" "}
          <code>metadata.k &gt;= 2</code>, <code>create_time &gt; "2025-01-01T00:00:00Z"</code>,
          AND / OR / NOT.
        </small>
      </div>
      <div className="field wide">
        <label htmlFor="memory-search">Search</label>
        <input
          id="memory-search"
          type="search"
          value={draft.search}
          onChange={(e) => setDraft({ ...draft, search: e.target.value })}
          placeholder="where does she live?"
        />
      </div>
      <div className="field">
        <label htmlFor="search-mode">Mode</label>
        <select
          id="search-mode"
          value={draft.mode}
          onChange={(e) => setDraft({ ...draft, mode: Number(e.target.value) })}
        >
          {SEARCH_MODES.map(({ mode, label }) => (
            <option key={mode} value={mode}>
              {label}
            </option>
          ))}
        </select>
      </div>
      <div className="field buttons">
        <button type="submit">Apply</button>
        <button
          type="button"
          onClick={() => {
            const cleared = { ...draft, filter: "", search: "" };
            setDraft(cleared);
            onSubmit(cleared);
          }}
        >
          Clear
        </button>
      </div>
    </form>
  );
}
