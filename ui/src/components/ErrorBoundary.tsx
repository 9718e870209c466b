// A page that throws while rendering shows what went wrong instead of a blank page.
import { Component, type ErrorInfo, type ReactNode } from "react";
import { ErrorMessage } from "./ErrorMessage";

interface State {
  error: unknown;
}

export class ErrorBoundary extends Component<{ children: ReactNode; resetKey?: string }, State> {
  override state: State = { error: undefined };

  static getDerivedStateFromError(error: unknown): State {
    return { error };
  }

  override componentDidUpdate(previous: { resetKey?: string }) {
    // A new page (the route changed) gets a fresh start.
    if (previous.resetKey !== this.props.resetKey && this.state.error !== undefined) {
      this.setState({ error: undefined });
    }
  }

  override componentDidCatch(error: unknown, info: ErrorInfo) {
    console.error("the page failed", error, info.componentStack);
  }

  override render() {
    if (this.state.error !== undefined) {
      return <ErrorMessage error={this.state.error} title="This page failed" />;
    }
    return this.props.children;
  }
}
