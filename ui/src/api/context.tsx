// The signed-in session's API clients, for every page below the sign-in.
import { createContext, useContext } from "react";
import type { Clients } from "./clients";

export const ClientsContext = createContext<Clients | null>(null);

export function useClients(): Clients {
  const clients = useContext(ClientsContext);
  if (clients === null) throw new Error("useClients outside a signed-in session");
  return clients;
}
