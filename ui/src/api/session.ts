// The API key of the signed-in person: kept in sessionStorage (gone when the tab closes,
// never in the URL, never in localStorage where other tabs and later visits would see it).

const KEY = "mem0stack.apiKey";
const USER = "mem0stack.user";

export interface Session {
  /** The API key; empty in development mode, where the server needs none. */
  apiKey: string;
  /** The user whose memories were last opened (a convenience, not a permission). */
  user: string;
}

export function loadSession(storage: Storage = window.sessionStorage): Session | null {
  const apiKey = storage.getItem(KEY);
  if (apiKey === null) return null;
  return { apiKey, user: storage.getItem(USER) ?? "" };
}

export function saveSession(session: Session, storage: Storage = window.sessionStorage): void {
  storage.setItem(KEY, session.apiKey);
  storage.setItem(USER, session.user);
}

export function clearSession(storage: Storage = window.sessionStorage): void {
  storage.removeItem(KEY);
  storage.removeItem(USER);
}
