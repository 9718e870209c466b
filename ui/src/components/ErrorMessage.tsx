// A failed call as the API described it: code, ErrorInfo reason and message.
import { describeError } from "../api/errors";

export function ErrorMessage({ error, title }: { error: unknown; title?: string }) {
  const e = describeError(error);
  return (
    <div className="error" role="alert">
      <strong>{title ?? "The server refused"}</strong>
      <p>
        <code className="error-reason">{e.reason || e.code}</code>{" "}
        <span className="error-message">{e.message}</span>
        {e.reason ? <span className="error-code"> ({e.code})</span> : null}
      </p>
      {e.violations.length > 0 ? (
        <ul>
          {e.violations.map((v) => (
            <li key={v}>{v}</li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
