// Opens another user's memories (an admin key reaches every user, a user key its own).
import { useEffect, useState } from "react";
import { navigate } from "../router";

export function UserSwitcher({ current }: { current: string }) {
  const [user, setUser] = useState(current);
  useEffect(() => setUser(current), [current]);
  return (
    <form
      className="user-switcher"
      role="search"
      aria-label="Open a user"
      onSubmit={(e) => {
        e.preventDefault();
        if (user.trim()) navigate({ page: "memories", user: user.trim() });
      }}
    >
      <label htmlFor="open-user">User</label>
      <input id="open-user" value={user} onChange={(e) => setUser(e.target.value)} />
      <button type="submit">Open</button>
    </form>
  );
}
